"""What the queue writes to Redis: a hash per entry, a schedule per kind scored
by due time (by lease end while claimed), the set of kinds."""
import json

KIND = "whatsapp.send"


async def test_enqueue_writes_the_hash_and_the_schedule(make_queue, redis_client, prefix, clock):
    queue = make_queue("redis")
    entry = await queue.enqueue(KIND, {"to": "34600111222", "text": "¡hola!"}, error="HTTP 503",
                                conversation_id="34600111222", reason="graph_unavailable")
    stored = await redis_client.hgetall(f"{prefix}:messages:{entry.id}")
    assert json.loads(stored["payload"]) == {"to": "34600111222", "text": "¡hola!"}
    assert (stored["kind"], stored["status"], stored["attempts"], stored["error"]) == (KIND, "queued", "0", "HTTP 503")
    assert float(stored["first_failed_at"]) == clock.now
    assert await redis_client.zscore(f"{prefix}:schedule:{KIND}", entry.id) == clock.now + 60
    assert await redis_client.smembers(f"{prefix}:kinds") == {KIND}


async def test_a_claim_moves_the_score_to_the_lease_end(make_queue, redis_client, prefix, clock):
    queue = make_queue("redis", lease_seconds=120)
    entry = await queue.enqueue(KIND, {"to": "1"}, error="HTTP 503", reason="graph_unavailable")
    clock.advance(60)
    [claimed] = await queue.claim_due([KIND], 5)
    assert await redis_client.zscore(f"{prefix}:schedule:{KIND}", entry.id) == clock.now + 120
    stored = await redis_client.hgetall(f"{prefix}:messages:{entry.id}")
    assert (stored["status"], stored["claim"], float(stored["lease_until"])) == ("retrying", claimed.claim, clock.now + 120)
    assert await queue.claim_due([KIND], 5) == [], "a claimed entry is not claimed again during its lease"
