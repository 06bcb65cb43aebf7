"""The live view of a local run: state machine progress, training epochs, endpoint status."""

from __future__ import annotations

import threading
import time
from typing import Any, TextIO

_BAR_WIDTH = 24


class Console:
    """Thread-safe line output; progress bars redraw in place on a terminal and print sparsely otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.is_tty = bool(getattr(stream, "isatty", lambda: False)())
        self._lock = threading.Lock()
        self._bar_open = False
        self._last_bar_step: dict[str, int] = {}
        self._started = time.monotonic()

    def _clock(self) -> str:
        return f"[{time.monotonic() - self._started:6.1f}s]"

    def line(self, text: str) -> None:
        with self._lock:
            if self._bar_open:
                self.stream.write("\n")
                self._bar_open = False
            self.stream.write(f"{self._clock()} {text}\n")
            self.stream.flush()

    def progress(self, key: str, fraction: float, label: str) -> None:
        """A progress bar for a long step (``key`` identifies it: one bar per training job)."""
        fraction = min(max(fraction, 0.0), 1.0)
        filled = round(fraction * _BAR_WIDTH)
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        text = f"{self._clock()}   [{bar}] {fraction * 100:5.1f}% {label}"
        with self._lock:
            if self.is_tty:
                self.stream.write(("\r" if self._bar_open else "") + text.ljust(100))
                self._bar_open = True
            else:
                step = int(fraction * 4)  # 0, 25, 50, 75, 100 %
                if self._last_bar_step.get(key) == step:
                    return
                self._last_bar_step[key] = step
                self.stream.write(text + "\n")
            self.stream.flush()


class ExecutionView:
    """Turns Step Functions history events into a short, readable log.

    Loops (the endpoint wait loop) and Map iterations repeat states; each state is shown when first entered
    and when it first succeeds, and every failure is shown.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self._entered: set[str] = set()
        self._exited: set[str] = set()
        self._entered_at: dict[str, float] = {}

    def __call__(self, event: dict[str, Any]) -> None:
        kind = str(event.get("type", ""))
        if kind.endswith("StateEntered"):
            name = event.get("stateEnteredEventDetails", {}).get("name", "?")
            if name not in self._entered:
                self._entered.add(name)
                self._entered_at[name] = time.monotonic()
                self.console.line(f"> {name}")
        elif kind.endswith("StateExited"):
            name = event.get("stateExitedEventDetails", {}).get("name", "?")
            if name not in self._exited:
                self._exited.add(name)
                took = time.monotonic() - self._entered_at.get(name, time.monotonic())
                self.console.line(f"  done {name} ({took:.1f}s)")
        elif kind.endswith("Failed") or kind.endswith("TimedOut") or kind == "ExecutionAborted":
            details: dict[str, Any] = next((value for key, value in event.items() if key.endswith("EventDetails")), {})
            error = details.get("error", kind)
            cause = str(details.get("cause", ""))
            self.console.line(f"  FAILED {kind}: {error} {cause[:300]}")


class SageMakerView:
    """Shows the local SageMaker's training and endpoint events (a listener of ``LocalSageMaker``)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def __call__(self, kind: str, event: dict[str, Any]) -> None:
        name = event.get("name", "?")
        if kind == "training.epoch":
            loss = event.get("validation_loss")
            shown = (
                f"validation loss {loss:.4f}" if isinstance(loss, float) else f"train loss {event['train_loss']:.4f}"
            )
            self.console.progress(
                name,
                event["epoch"] / max(event["epochs"], 1),
                f"{name} epoch {event['epoch']}/{event['epochs']} {shown}",
            )
        elif kind == "training.status":
            reason = f": {event['reason']}" if event.get("reason") else ""
            self.console.line(f"  training job {name}: {event.get('status')} / {event.get('secondary')}{reason}")
        elif kind in ("endpoint.status", "transform.status"):
            reason = f": {event['reason']}" if event.get("reason") else ""
            what = "endpoint" if kind == "endpoint.status" else "transform job"
            self.console.line(f"  {what} {name}: {event.get('status')}{reason}")
