"""PMS backends and the gateway the actions use to reach them."""
from actions.pms.base import (  # noqa: F401
    PMS,
    Availability,
    Booking,
    BookingNotFound,
    BookingRejected,
    BookingRequest,
    BookingStatus,
    InvalidBookingState,
    NoAvailability,
    PMSError,
    PMSUnavailable,
    RoomType,
)
