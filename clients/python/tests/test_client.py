"""The client and the fixtures through a real smash-emu serve (the session fixture's)."""

from typing import List

import pytest

from smash_emu import Client, ConnectionClosed, RpcError, Server, hexs

seen_platforms: List[str] = []


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_a_fresh_platform_of_its_own(smash_emu: Client, run: int) -> None:
    info = smash_emu.call("emu.info")
    assert info["platform"] == smash_emu.platform
    assert smash_emu.platform.startswith("test_each_test_gets_a_fresh_platform_of_its_own")
    # Each run starts at time 0, whatever the run before it did to its own platform.
    assert smash_emu.clock_now() == 0
    assert smash_emu.clock_advance(1000 * run) == 1000 * run
    seen_platforms.append(smash_emu.platform)


def test_the_platforms_of_earlier_tests_were_deleted(smash_emu_server: Server) -> None:
    assert len(seen_platforms) == 2
    with smash_emu_server.connect() as default:
        names = [p["name"] for p in default.call("emu.platforms")["platforms"]]
    assert not set(seen_platforms) & set(names)
    assert smash_emu_server.delete_platform(seen_platforms[0]) is False


def test_memory_registers_and_time(smash_emu: Client) -> None:
    spa = smash_emu.mem_alloc(1)
    smash_emu.mem_write64(spa, [0x1122334455667788, 0xFFFFFFFFFFFFFFFF])
    assert smash_emu.mem_read64(spa, 3) == [0x1122334455667788, 0xFFFFFFFFFFFFFFFF, 0]
    smash_emu.mem_free(spa, 1)
    assert smash_emu.tmpm_read(0x1C) & 0x3 == 0x3  # ENGINE_READY, DRIVER_INIT
    with pytest.raises(RpcError) as e:
        smash_emu.tmpm_write(0x1C, 0)  # STATUS is read-only
    assert e.value.code == -32602


def test_errors_carry_code_message_and_issues(smash_emu: Client) -> None:
    with pytest.raises(RpcError) as e:
        smash_emu.call("mem.read64", {"spa": "0x1", "count": 1})
    assert e.value.code == -32602
    assert e.value.data["issues"][0]["path"] == ["spa"]
    assert "spa" in str(e.value)
    with pytest.raises(RpcError) as missing:
        smash_emu.call("no.such")
    assert missing.value.code == -32601


def test_batch_and_notification(smash_emu: Client) -> None:
    first, refused, last = smash_emu.batch([("clock.advance", {"ns": 5}), ("mem.read64", {"spa": "0x1", "count": 1}), ("clock.now", None)])
    assert not isinstance(first, RpcError) and first["nowNs"] == 5
    assert isinstance(refused, RpcError) and refused.code == -32602
    assert not isinstance(last, RpcError) and last["nowNs"] == 5
    smash_emu.notify("clock.advance", {"ns": 10})
    assert smash_emu.clock_now() == 15


def test_events_arrive_before_the_answer_of_the_call_that_caused_them(smash_emu: Client) -> None:
    sid = smash_emu.subscribe(["tmpm"])
    spa = smash_emu.mem_alloc(1)
    r = smash_emu.call("tmpm.submit", {"command": 1, "listSpa": hexs(spa)})
    assert r["statusName"] == "SUCCESS"
    events = smash_emu.events()
    assert [(e.subscription_id, e.topic, e.data["commandName"]) for e in events] == [(sid, "tmpm", "NOOP")]
    assert events[0].at_ns == r["endNs"]
    # A bad doorbell: RBHEAD past the ring raises the WPTR_ERR interrupt.
    smash_emu.tmpm_write(0x08, 4096)
    irq = smash_emu.next_event(timeout=5)
    assert irq is not None and irq.data["kind"] == "interrupt" and irq.data["reason"] == "WPTR_ERR"
    smash_emu.unsubscribe(sid)
    assert smash_emu.next_event(timeout=0) is None


def test_attach_is_only_the_first_call(smash_emu_server: Server) -> None:
    with smash_emu_server.connect() as c:
        c.call("clock.now")
        with pytest.raises(RpcError) as e:
            c.attach("too-late")
        assert e.value.code == -32002
    with pytest.raises(RpcError) as bad:
        smash_emu_server.connect("no/slashes")
    assert bad.value.code == -32602


def test_a_deleted_platform_closes_its_connections(smash_emu_server: Server) -> None:
    c = smash_emu_server.connect("doomed")
    assert smash_emu_server.delete_platform("doomed") is True
    with pytest.raises(ConnectionClosed) as closed:
        c.call("clock.now")
    assert closed.value.code == 1001 and closed.value.reason == "platform deleted"
    c.close()
