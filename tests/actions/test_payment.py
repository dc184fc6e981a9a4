"""Payment notices: a confirmed booking gets a signed QR whose token verifies;
a PMS that does not confirm payments leaves a request for staff."""
from __future__ import annotations

import io
import re
from urllib.parse import urlparse

import pytest

from actions import qr
from actions.config import settings
from actions.payment import ActionConfirmPayment
from actions.pms.base import BookingStatus
from actions.pms.gateway import PMSGateway, build_breaker, use_gateway
from actions.pms.local import LocalPMS
from tests.conftest import TODAY, make_tracker, run_action


def pay_tracker(reference="BK100002", **kwargs):
    return make_tracker(slots={"booking_ref": reference}, intent="payment_confirmation", sender_id="guest-42", **kwargs)


@pytest.fixture
def demo_pms(tmp_path):
    """The embedded PMS with the demo setting (DEMO_AUTO_CONFIRM_PAYMENTS=1, make run): "I paid" is payment."""
    demo = LocalPMS(f"sqlite:///{tmp_path / 'demo.sqlite3'}", clock=lambda: TODAY, auto_confirm_payments=True)
    use_gateway(PMSGateway(demo, build_breaker(fail_max=3, reset_timeout=60)))
    return demo


def token_from_url(url: str) -> str:
    config = settings()
    assert url.startswith(f"{config.public_url}/qr/")
    match = re.fullmatch(r"/qr/(?P<token>[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)\.png", urlparse(url).path)
    assert match, url
    return match.group("token")


async def test_payment_confirms_and_sends_a_verifiable_qr(demo_pms, staff_store):
    result = await run_action(ActionConfirmPayment(), pay_tracker())
    assert result.responses == ["utter_payment_confirmed_qr"]
    message = result.message("utter_payment_confirmed_qr")
    assert message["reference"] == "BK100002"
    assert demo_pms.get_booking("BK100002").status is BookingStatus.CONFIRMED

    token = token_from_url(message["image"])
    assert message["custom"] == {"qr": {"reference": "BK100002", "token": token}}
    claims = qr.verify_token(token, settings().qr_secret)
    assert claims == {"ref": "BK100002", "in": "2026-12-07", "out": "2026-12-10", "room": "suite"}
    with pytest.raises(qr.InvalidToken):
        qr.verify_token(token, settings().qr_secret + "-not")
    assert staff_store.open_requests() == []  # nothing for staff to check


async def test_the_qr_image_decodes_to_the_token(demo_pms):
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    result = await run_action(ActionConfirmPayment(), pay_tracker(language="en"))
    token = token_from_url(result.message("utter_payment_confirmed_qr")["image"])
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.render_png(token))))
    assert [d.text for d in decoded] == [token]


async def test_already_paid_booking_gets_its_qr_again(pms):
    result = await run_action(ActionConfirmPayment(), pay_tracker("BK100001"))
    token = result.message("utter_payment_confirmed_qr")["custom"]["qr"]["token"]
    claims = qr.verify_token(token, settings().qr_secret)
    assert "name" not in claims and "Lucía" not in token  # no personal data in URLs
    assert pms.get_booking("BK100001").is_paid


async def test_payment_notice_records_a_staff_payment_check(pms, staff_store):
    """The default (issue #9): "I paid" is a notice for reception, not a payment."""
    receipt = {"whatsapp": {"media": {"id": "media-778", "mime_type": "image/jpeg"}}}
    result = await run_action(ActionConfirmPayment(), pay_tracker(metadata=receipt))
    assert result.responses == ["utter_payment_notice_received"]
    assert result.message("utter_payment_notice_received")["reference"] == "BK100002"
    assert pms.get_booking("BK100002").status is BookingStatus.PENDING_PAYMENT
    requests = staff_store.open_requests("payment_check")
    assert len(requests) == 1
    assert requests[0].sender_id == "guest-42"
    assert (requests[0].booking_ref, requests[0].media_ref) == ("BK100002", "whatsapp:media-778")
    assert not requests[0].urgent
    assert result.messages[0]["image"] is None and result.messages[0]["custom"] == {}  # no QR before the money is seen


async def test_cancelled_booking_cannot_be_paid(pms, staff_store):
    pms.cancel_booking("BK100002")
    result = await run_action(ActionConfirmPayment(), pay_tracker())
    assert result.responses == ["utter_payment_booking_cancelled"]
    assert pms.get_booking("BK100002").status is BookingStatus.CANCELLED
    assert staff_store.open_requests() == []


async def test_unknown_booking():
    result = await run_action(ActionConfirmPayment(), pay_tracker("BK999999"))
    assert result.responses == ["utter_booking_not_found"]
