"""The proactive stay journey: the hotel writes first (booking confirmation,
pre-arrival, arrival day, checkout morning, review request), at the right
local time and exactly once per (booking, step). See docs/journey.md."""
