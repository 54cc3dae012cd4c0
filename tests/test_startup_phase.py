"""swiftk.startup.startup_phase: no collection passes inside, the survivors frozen after, nesting."""

from __future__ import annotations

import gc

from swiftk.startup import startup_phase


def test_collection_is_off_inside_and_back_on_after_with_survivors_frozen():
    assert gc.isenabled()
    before = gc.get_freeze_count()
    try:
        with startup_phase():
            assert not gc.isenabled()
            kept = [[i] for i in range(1000)]
            with startup_phase():  # nested: the outer block still runs without collection
                pass
            assert not gc.isenabled()
        assert gc.isenabled()
        assert gc.get_freeze_count() >= before + len(kept)
    finally:
        gc.unfreeze()


def test_collection_stays_off_after_when_it_was_off_before():
    gc.disable()
    try:
        with startup_phase():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


def test_an_error_inside_turns_collection_back_on():
    try:
        with startup_phase():
            raise KeyError("x")
    except KeyError:
        pass
    finally:
        gc.unfreeze()
    assert gc.isenabled()
