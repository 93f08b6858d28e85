"""A form's undo history: named snapshots and a bounded line of undo steps, as stored and mirrored.

Pure data: no lock, no revisions. The session stamps the paths a change
here touches (``["snapshots", form, "saved" | "line" | slot]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from .clock import utcnow
from .records import JSON
from .timestamps import iso, parse_time
from .values import decode

MAX_UNDO: Final = 50
MAX_SNAPSHOTS: Final = 20

ABSENT: Final = object()
"""Marks a field that did not exist on one side of an undo step."""

# One undo step: for each field touched, (field, value before, value after),
# where ABSENT stands for "the field did not exist".
UndoStep = list[tuple[str, object, object]]


def step_to_json(step: UndoStep) -> list[list[JSON]]:
    return [
        [name, before is not ABSENT, None if before is ABSENT else before,
         after is not ABSENT, None if after is ABSENT else after]
        for name, before, after in step
    ]


def step_from_json(raw: object) -> UndoStep:
    if not isinstance(raw, list) or not all(isinstance(i, list) and len(i) == 5 for i in raw):
        raise ValueError("an undo step is a list of [field, has_before, before, has_after, after]")
    return [
        (str(name), before if has_before else ABSENT, after if has_after else ABSENT)
        for name, has_before, before, has_after, after in raw
    ]


@dataclass(frozen=True)
class FormSnapshot:
    snapshot_id: str
    form_id: str
    description: str
    data: Mapping[str, JSON]
    created_at: datetime = field(default_factory=utcnow)

    def to_json(self) -> dict[str, JSON]:
        return {
            "snapshot_id": self.snapshot_id,
            "form_id": self.form_id,
            "description": self.description,
            "data": dict(self.data),
            "created_at": iso(self.created_at),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, JSON]) -> FormSnapshot:
        if not isinstance(raw, Mapping):
            raise ValueError("a snapshot is an object")
        data = raw.get("data")
        if not isinstance(data, dict):
            raise ValueError("snapshot data must be an object")
        return cls(
            str(raw["snapshot_id"]),
            str(raw["form_id"]),
            str(raw.get("description", "")),
            data,
            parse_time(raw.get("created_at")) or utcnow(),
        )


@dataclass
class FormHistory:
    """A form's named snapshots and its line of undo steps.

    Steps are numbered 1, 2, 3... as they are made: steps ``lo+1..at`` can be
    undone (newest last) and ``at+1..hi`` redone. Each step is kept in slot
    ``n % MAX_UNDO`` and mirrored at a path of its own, so an edit sends one
    step and the line, not the whole history. A step that leaves the line
    needs no tombstone: its slot no longer matches the line, and the next step
    numbered into that slot overwrites it. Steps also give way, oldest first, when the session's
    undo steps pass their byte budget (``drop_oldest``); the slot is then emptied.

    A slot holds its step as it is stored and mirrored (``{"n": number,
    "step": [[field, has_before, before, has_after, after], ...]}``): every
    database write of the session encodes every step, and few are ever undone.
    """

    snapshots: list[FormSnapshot] = field(default_factory=list)
    slots: dict[int, dict[str, JSON]] = field(default_factory=dict)
    lo: int = 0
    at: int = 0
    hi: int = 0

    def step(self, number: int) -> UndoStep | None:
        """Step ``number`` if the line holds it; None past either end, or if its slot moved on."""
        kept = self.slots.get(number % MAX_UNDO)
        if kept is None or kept["n"] != number or not self.lo < number <= self.hi:
            return None
        return step_from_json(kept["step"])

    def push(self, step: UndoStep) -> list[str]:
        """Make ``step`` the newest undo step, dropping every redo step; the slots that changed,
        the new step's first (the others are emptied, so no redo step is kept unseen)."""
        redo = [self._forget(n) for n in range(self.at + 1, self.hi + 1)]
        self.hi = self.at = self.at + 1
        self.lo = max(self.lo, self.hi - MAX_UNDO)
        self.slots[self.hi % MAX_UNDO] = {"n": self.hi, "step": step_to_json(step)}
        new = str(self.hi % MAX_UNDO)
        return [new, *(part for part in redo if part is not None and part != new)]

    def oldest(self) -> tuple[str, int] | None:
        """(slot, step number) of the step that gives way first: a slot the line no longer
        holds (number 0), else the oldest undo step kept, else the newest redo step; None for none."""
        undo: int | None = None
        redo: int | None = None
        for slot, kept in self.slots.items():
            number = kept["n"]
            if not (type(number) is int and self.lo < number <= self.hi):
                return str(slot), 0
            if number <= self.at:
                undo = number if undo is None else min(undo, number)
            else:
                redo = number if redo is None else max(redo, number)
        number = undo if undo is not None else redo
        return None if number is None else (str(number % MAX_UNDO), number)

    def drop_oldest(self) -> str | None:
        """Drop the step ``oldest`` names, moving the line's end past it; the slot emptied."""
        found = self.oldest()
        if found is None:
            return None
        slot, number = found
        if number and number <= self.at:
            self.lo = number
        elif number:
            self.hi = number - 1
        del self.slots[int(slot)]
        return slot

    def _forget(self, number: int) -> str | None:
        """Empty the slot of step ``number`` if it holds that step; the slot emptied."""
        kept = self.slots.get(number % MAX_UNDO)
        if kept is None or kept["n"] != number:
            return None
        del self.slots[number % MAX_UNDO]
        return str(number % MAX_UNDO)

    def add_snapshot(self, snapshot: FormSnapshot) -> None:
        self.snapshots.append(snapshot)
        del self.snapshots[:-MAX_SNAPSHOTS]

    def encode(self, part: str, *, shared: bool) -> object:
        """The JSON-ready value of a ``snapshots`` path part; ``shared`` lets it hold this
        history's own objects, for a caller that encodes them to text under the session's lock.
        A slot is given as it is kept either way: ``push`` and ``decode`` make each slot's
        value whole and only ever replace it, never change it in place."""
        if part == "saved":  # jsontext writes a dataclass as its to_json() would
            return self.snapshots if shared else [s.to_json() for s in self.snapshots]
        if part == "line":
            return {"lo": self.lo, "at": self.at, "hi": self.hi}
        kept = self.slots.get(int(part))  # a path the session made: no need to check its spelling
        return ABSENT if kept is None else kept

    def decode(self, part: str, value: JSON) -> None:
        if part == "saved" and isinstance(value, list):
            snapshots = [FormSnapshot.from_json(s) for s in value][-MAX_SNAPSHOTS:]
            for snapshot in snapshots:
                decode(snapshot.data)  # values the app could not read back are refused here
            self.snapshots = snapshots
        elif part == "line" and isinstance(value, dict):
            lo, at, hi = value.get("lo"), value.get("at"), value.get("hi")
            if not (type(lo) is int and type(at) is int and type(hi) is int
                    and 0 <= lo <= at <= hi <= lo + MAX_UNDO):
                raise ValueError("an undo line needs integers 0 <= lo <= at <= hi <= lo + MAX_UNDO")
            self.lo, self.at, self.hi = lo, at, hi
        elif part not in ("saved", "line") and isinstance(value, dict):
            number, slot = value.get("n"), _slot(part)
            if type(number) is not int or number < 1 or number % MAX_UNDO != slot:
                raise ValueError(f"undo slot {slot} holds steps numbered {slot} modulo {MAX_UNDO}")
            step = step_from_json(value.get("step"))
            decode([[v for v in (before, after) if v is not ABSENT] for _name, before, after in step])
            self.slots[slot] = {"n": number, "step": step_to_json(step)}
        else:
            raise ValueError(f"value of the wrong shape for snapshots part {part!r}")

    def delete(self, part: str) -> None:
        if part == "saved":
            self.snapshots = []
        elif part == "line":
            self.lo = self.at = self.hi = 0
        else:
            self.slots.pop(_slot(part), None)


def _slot(part: str) -> int:
    """The slot a ``snapshots`` path part names: ``"0"`` .. ``"49"``, in that spelling only."""
    if not part.isdecimal() or str(int(part)) != part or int(part) >= MAX_UNDO:
        raise ValueError(f"{part!r} is not an undo slot")
    return int(part)
