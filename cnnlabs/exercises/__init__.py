"""Auto-checked exercises: the registry, ``check`` for notebooks, and the grading of a namespace.

Every lab's exercises live in ``cnnlabs/exercises/labNN.py``. Each one is a function
registered with :func:`exercise` under an id ``"NN.M"``: it reads the notebook's
variables through :class:`Answers` and returns :class:`Feedback` (points and a
message that says what kind of answer is expected, never the answer). Written
questions are registered with :func:`question`, with the rubric the instructor grades
them by.

In a notebook, ``check("03.2")`` runs one exercise on the notebook's variables and
prints one line (``03.2: 2/2 points`` or ``03.2: 0/2 points: <hint>``); it never
raises. ``cnnlabs grade`` runs :func:`grade_namespace` in the submission's kernel
after the notebook has run, from a fresh import of this package, together with the
instructor's extra tests (:func:`extra_test`).

Importing this package is light: a lab's checks are imported on first use, and the
checks import Keras only when they need it.
"""

from __future__ import annotations

import importlib
import importlib.util
import numbers
import os
import pkgutil
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, NamedTuple

#: Set in the kernel of a submission that ``cnnlabs grade`` runs: ``check`` then does nothing.
GRADING_ENV = "CNNLABS_GRADING"
#: Set where the solution notebooks run (CI): ``check`` then fails below full marks.
STRICT_ENV = "CNNLABS_CHECKS_STRICT"
#: The kinds of exercise (see docs/instructors.md).
KINDS = ("compute", "implement", "build", "train-and-read")
#: Seconds one check may run before it is stopped (a student's function may loop forever).
DEFAULT_TIME_LIMIT = 60.0
#: What an answer still looks like when the student has not replaced the stub.
UNANSWERED = "not answered yet"

_ID_RE = re.compile(r"^(?P<lab>\d{2})\.(?P<number>[1-9]\d*)$")
_MISSING = object()


class NotAnswered(Exception):
    """A name the exercise needs is missing or still ``...`` (the student's stub)."""

    def __init__(self, name: str, why: str = "") -> None:
        self.name = name
        super().__init__(why or f"`{name}` is {UNANSWERED}")


class Wrong(Exception):
    """An answer that cannot be right; the message says what kind of answer is expected."""


class CheckTimeout(BaseException):
    """A check ran past its time limit (a ``BaseException``: a student's ``except
    Exception`` around a loop cannot swallow it)."""


class Feedback(NamedTuple):
    """What a check returns: the points earned and, below full marks, why."""

    points: float
    message: str = ""


class WrongAnswer(NamedTuple):
    """A realistic wrong answer to an exercise, kept beside its check as a test fixture.

    Attributes:
        label: the mistake, in a few words ("padding forgotten").
        code: the solution block with the mistake in it.
        points: the points the check gives it.
        run_dependent: the points hold in the tests' prepared namespace but may differ
            after a real run of the lab (they depend on the figures the run produces).
    """

    label: str
    code: str
    points: float
    run_dependent: bool = False


def _lab_of(exercise_id: str) -> int:
    match = _ID_RE.match(exercise_id) if isinstance(exercise_id, str) else None
    if match is None:
        raise ValueError(f"An exercise id is two digits, a dot and a number, like '03.2'; "
                         f"got {exercise_id!r}.")
    return int(match["lab"])


def _sort_key(exercise_id: str) -> tuple[int, int]:
    lab, number = exercise_id.split(".")
    return int(lab), int(number)


@dataclass(frozen=True)
class Exercise:
    """One auto-checked exercise.

    Attributes:
        id: ``"NN.M"``: lab NN, exercise M.
        points: the most it can earn.
        goal: the one-line goal, as the notebook's heading states it.
        kind: one of :data:`KINDS`.
        check: the function that marks it: ``check(answers) -> Feedback``.
        time_limit: seconds the check may take.
    """

    id: str
    points: float
    goal: str
    kind: str
    check: Callable[[Answers], Feedback]
    time_limit: float = DEFAULT_TIME_LIMIT

    @property
    def lab(self) -> int:
        return _lab_of(self.id)


@dataclass(frozen=True)
class Question:
    """A free-text question, graded by hand.

    Attributes:
        id: ``"NN.M"``, numbered with the lab's exercises.
        question: the question, as the notebook's heading states it.
        rubric: ``(points, what earns them)`` pairs for the instructor.
    """

    id: str
    question: str
    rubric: tuple[tuple[float, str], ...]

    @property
    def lab(self) -> int:
        return _lab_of(self.id)

    @property
    def points(self) -> float:
        return float(sum(points for points, _ in self.rubric))


@dataclass(frozen=True)
class ExtraTest:
    """An instructor's extra test, loaded by ``cnnlabs grade --tests DIR``.

    Its points add to the exercise ``id`` (or, for an id that is not one of the
    lab's exercises, form a column of their own).
    """

    id: str
    points: float
    name: str
    test: Callable[[Answers], Any]

    @property
    def lab(self) -> int:
        return _lab_of(self.id)


def _format_points(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class Result:
    """The outcome of one check (or one extra test) on one namespace.

    Attributes:
        exercise: the exercise id.
        points: points earned.
        max_points: points available.
        message: why points were lost (empty at full marks).
        status: ``"correct"``, ``"partial"``, ``"wrong"``, ``"not answered"`` or
            ``"error"`` (the check itself failed, or the id is unknown).
        source: ``"check"`` for the exercise's own check, ``"extra:NAME"`` for an
            instructor's extra test.
    """

    exercise: str
    points: float
    max_points: float
    message: str
    status: str
    source: str = "check"

    def line(self) -> str:
        """The one line ``check`` prints: ``03.2: 1/2 points: <message>``."""
        if self.max_points == 0:  # nothing to mark: an unknown id
            return f"{self.exercise}: {self.message}"
        unit = "point" if self.max_points == 1 else "points"
        text = (f"{self.exercise}: {_format_points(self.points)}/"
                f"{_format_points(self.max_points)} {unit}")
        return f"{text}: {self.message}" if self.message else text

    def to_dict(self) -> dict[str, Any]:
        return {"exercise": self.exercise, "points": self.points, "max_points": self.max_points,
                "message": self.message, "status": self.status, "source": self.source}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        return cls(exercise=str(data["exercise"]), points=float(data["points"]),
                   max_points=float(data["max_points"]), message=str(data["message"]),
                   status=str(data["status"]), source=str(data.get("source", "check")))


# --------------------------------------------------------------------------- the registry

_EXERCISES: dict[str, Exercise] = {}
_QUESTIONS: dict[str, Question] = {}
#: Where :func:`extra_test` puts what it registers while :func:`load_extra_tests` runs.
_collector: list[ExtraTest] | None = None


def exercise(exercise_id: str, *, points: float, goal: str, kind: str,
             time_limit: float = DEFAULT_TIME_LIMIT
             ) -> Callable[[Callable[[Answers], Feedback]], Callable[[Answers], Feedback]]:
    """Register the decorated function as the check of exercise ``exercise_id``.

    Args:
        exercise_id: ``"NN.M"``.
        points: the most the exercise earns (a positive number).
        goal: the one-line goal; the notebook's heading must state it word for word.
        kind: one of :data:`KINDS`.
        time_limit: seconds the check may take before it is stopped.

    Raises:
        ValueError: for a malformed or duplicate id, an unknown kind, or points <= 0.
    """
    _lab_of(exercise_id)
    if kind not in KINDS:
        raise ValueError(f"Exercise {exercise_id}: kind must be one of {KINDS}, got {kind!r}.")
    if not points > 0:
        raise ValueError(f"Exercise {exercise_id}: points must be positive, got {points!r}.")

    def register(check: Callable[[Answers], Feedback]) -> Callable[[Answers], Feedback]:
        if exercise_id in _EXERCISES or exercise_id in _QUESTIONS:
            raise ValueError(f"Exercise {exercise_id} is registered twice.")
        _EXERCISES[exercise_id] = Exercise(exercise_id, points, goal, kind, check, time_limit)
        return check

    return register


def question(question_id: str, text: str, rubric: Sequence[tuple[float, str]]) -> Question:
    """Register a written question of a lab, with the rubric the instructor grades it by.

    Raises:
        ValueError: for a malformed or duplicate id, or an empty rubric.
    """
    _lab_of(question_id)
    if question_id in _EXERCISES or question_id in _QUESTIONS:
        raise ValueError(f"Question {question_id} is registered twice.")
    if not rubric:
        raise ValueError(f"Question {question_id} needs a rubric.")
    entry = Question(question_id, text, tuple((float(p), str(w)) for p, w in rubric))
    _QUESTIONS[question_id] = entry
    return entry


def extra_test(exercise_id: str, points: float = 1, name: str | None = None
               ) -> Callable[[Callable[[Answers], Any]], Callable[[Answers], Any]]:
    """Mark the decorated function as an instructor's extra test for ``exercise_id``.

    The function receives the submission's :class:`Answers`. It passes (full points)
    when it returns ``None`` or ``True``; it fails (0 points) when it returns
    ``False`` or raises (an ``AssertionError``'s message becomes the feedback); it
    may also return :class:`Feedback` for partial credit. Files of such tests are
    loaded by ``cnnlabs grade --tests DIR`` (see :func:`load_extra_tests`); outside
    that, the decorator returns the function unchanged.
    """
    _lab_of(exercise_id)

    def register(test: Callable[[Answers], Any]) -> Callable[[Answers], Any]:
        if _collector is not None:
            _collector.append(ExtraTest(exercise_id, float(points), name or test.__name__, test))
        return test

    return register


def load_extra_tests(sources: Sequence[tuple[str, str]]) -> list[ExtraTest]:
    """Run the extra-test files given as ``(file name, source)`` pairs; return their tests.

    Raises:
        SyntaxError, or whatever a file raises while it is loaded.
    """
    global _collector
    collected: list[ExtraTest] = []
    previous, _collector = _collector, collected
    try:
        for filename, source in sources:
            stem = re.sub(r"\W", "_", PurePath(filename).stem)
            module = {"__name__": f"cnnlabs_extra_tests_{stem}", "__file__": filename}
            exec(compile(source, filename, "exec"), module)  # the instructor's own code
    finally:
        _collector = previous
    return collected


def _load_lab(lab: int) -> None:
    name = f"{__name__}.lab{lab:02d}"
    if importlib.util.find_spec(name) is not None:
        importlib.import_module(name)


def labs_with_exercises() -> list[int]:
    """The numbers of the labs that have a module of checks."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        match = re.fullmatch(r"lab(\d{2})", info.name)
        if match:
            found.append(int(match[1]))
    return sorted(found)


def lab_exercises(lab: int) -> list[Exercise]:
    """The auto-checked exercises of lab ``lab``, in order (empty when it has none)."""
    _load_lab(lab)
    return [_EXERCISES[i] for i in sorted(_EXERCISES, key=_sort_key) if _lab_of(i) == lab]


def lab_questions(lab: int) -> list[Question]:
    """The written questions of lab ``lab``, in order."""
    _load_lab(lab)
    return [_QUESTIONS[i] for i in sorted(_QUESTIONS, key=_sort_key) if _lab_of(i) == lab]


def get(exercise_id: str) -> Exercise:
    """The exercise ``exercise_id``.

    Raises:
        KeyError: naming the lab's exercises.
        ValueError: for a malformed id.
    """
    lab = _lab_of(exercise_id)
    _load_lab(lab)
    if exercise_id not in _EXERCISES:
        known = ", ".join(e.id for e in lab_exercises(lab)) or "none"
        raise KeyError(f"No exercise {exercise_id}. Lab {lab:02d}'s exercises: {known}.")
    return _EXERCISES[exercise_id]


# --------------------------------------------------------------------------- reading answers


class Answers:
    """The notebook's variables, as a check reads them.

    Every accessor raises :class:`NotAnswered` for a name that is missing or still
    ``...``, and :class:`Wrong` for a value of the wrong kind, so that a check can
    be written for the right answer only.
    """

    def __init__(self, namespace: Mapping[str, Any]) -> None:
        self.namespace = namespace

    def __getitem__(self, name: str) -> Any:
        value = self.namespace.get(name, _MISSING)
        if value is _MISSING or value is Ellipsis:
            raise NotAnswered(name)
        return value

    def __contains__(self, name: str) -> bool:
        return self.namespace.get(name, _MISSING) not in (_MISSING, Ellipsis)

    def lab(self, name: str) -> Any:
        """A variable the lab's own cells define (``report``, ``data``, ...)."""
        value = self.namespace.get(name, _MISSING)
        if value is _MISSING:
            raise Wrong(f"the lab's variable `{name}` is missing: run the lab's cells above "
                        "this exercise first")
        return value

    def integer(self, name: str) -> int:
        """``name`` as an int; a float with a whole value counts (55.0 is 55)."""
        value = self[name]
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            if float(value).is_integer():
                return int(value)
            raise Wrong(f"`{name}` should be a whole number (a count or a size), got "
                        f"{float(value):g}")
        raise Wrong(f"`{name}` should be a whole number, got a {type(value).__name__}")

    def number(self, name: str) -> float:
        """``name`` as a float."""
        value = self[name]
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
        raise Wrong(f"`{name}` should be a number, got a {type(value).__name__}")

    def function(self, name: str) -> Callable[..., Any]:
        """``name``, which must be callable."""
        value = self[name]
        if not callable(value):
            raise Wrong(f"`{name}` should be a function, got a {type(value).__name__}")
        return value

    def call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Call the student's function ``name``; its exceptions become :class:`Wrong`.

        A function that returns ``None`` has no body yet: :class:`NotAnswered`.
        """
        function = self.function(name)
        try:
            result = function(*args, **kwargs)
        except (NotAnswered, Wrong):
            raise
        except Exception as exc:  # the student's code: report it, never raise it
            raise Wrong(f"`{name}` raised {type(exc).__name__}: {str(exc).strip()}") from None
        if result is None:
            raise NotAnswered(name, f"`{name}` returns nothing yet: write its body")
        return result

    def model(self, name: str) -> Any:
        """``name``, which must be a ``keras.Model``."""
        import keras

        value = self[name]
        if not isinstance(value, keras.Model):
            raise Wrong(f"`{name}` should be a keras.Model, got a {type(value).__name__}")
        return value

    def shapes(self, name: str) -> tuple[tuple, tuple]:
        """``(input shape, output shape)`` of the model ``name``, batch axis included."""
        model = self.model(name)
        try:
            inputs, outputs = model.inputs, model.outputs
        except (AttributeError, ValueError):
            inputs = outputs = None
        if not inputs or not outputs:
            raise Wrong(f"`{name}` has no input yet: start it with keras.Input(shape=...)")
        if len(inputs) != 1 or len(outputs) != 1:
            raise Wrong(f"`{name}` should have one input and one output")
        return tuple(inputs[0].shape), tuple(outputs[0].shape)

    def parts(self, *parts: tuple[float, Callable[[], Any], str]) -> Feedback:
        """Mark an exercise part by part: ``(points, test, message if it fails)``.

        Each ``test`` is called on its own: its points count when it returns a true
        value; when it returns a false one, or raises :class:`Wrong` (whose message
        is used instead), they do not. A part whose names are not answered yet
        earns nothing; when no part is answered, the exercise is not answered.
        """
        earned = 0.0
        messages: list[str] = []
        unanswered: dict[str, str] = {}
        for points, test, message in parts:
            try:
                passed = bool(test())
            except NotAnswered as exc:
                if exc.name not in unanswered:
                    unanswered[exc.name] = str(exc)
                    messages.append(str(exc))
                continue
            except Wrong as exc:
                messages.append(str(exc))
                continue
            except Exception as exc:  # a value the test could not compare, e.g. an array
                messages.append(f"{message} ({type(exc).__name__}: {exc})")
                continue
            if passed:
                earned += points
            else:
                messages.append(message)
        if unanswered and len(messages) == len(unanswered) and earned == 0:
            first = next(iter(unanswered))
            raise NotAnswered(first, _unanswered_message(unanswered))
        return Feedback(earned, "; ".join(dict.fromkeys(messages)))


def _unanswered_message(unanswered: Mapping[str, str]) -> str:
    """``not answered yet (`a`, `b` still missing or `...`; `f` returns nothing yet: ...)``."""
    plain = [name for name, why in unanswered.items() if why == str(NotAnswered(name))]
    notes = [why for name, why in unanswered.items() if name not in plain]
    if plain:
        listed = ", ".join(f"`{name}`" for name in plain)
        notes.insert(0, f"{listed} still missing or `...`")
    return f"{UNANSWERED} ({'; '.join(notes)})"


# --------------------------------------------------------------------------- running checks


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`CheckTimeout` after ``seconds`` (main thread on POSIX only; else no limit)."""
    usable = (seconds and seconds > 0 and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise CheckTimeout

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _status(points: float, max_points: float) -> str:
    if points >= max_points:
        return "correct"
    return "partial" if points > 0 else "wrong"


def run(exercise_id: str, namespace: Mapping[str, Any]) -> Result:
    """Mark exercise ``exercise_id`` on ``namespace``; never raises.

    A missing name or ``...`` gives 0 points, "not answered yet"; an exception in
    the student's code gives 0 for the parts it breaks; a check that runs past its
    time limit gives 0.
    """
    try:
        entry = get(exercise_id)
    except (KeyError, ValueError) as exc:
        return Result(str(exercise_id), 0.0, 0.0, str(exc.args[0]), "error")
    try:
        with _time_limit(entry.time_limit):
            points, message = entry.check(Answers(namespace))
    except NotAnswered as exc:
        message = str(exc)
        if not message.startswith(UNANSWERED):
            message = _unanswered_message({exc.name: message})
        return Result(entry.id, 0.0, entry.points, message, "not answered")
    except Wrong as exc:
        return Result(entry.id, 0.0, entry.points, str(exc), "wrong")
    except CheckTimeout:
        return Result(entry.id, 0.0, entry.points,
                      f"stopped after {entry.time_limit:g} s: does your code loop forever?",
                      "wrong")
    except Exception as exc:  # a bug in the check, or a value it could not handle
        return Result(entry.id, 0.0, entry.points,
                      f"the check could not mark this answer ({type(exc).__name__}: {exc})",
                      "error")
    points = min(max(float(points), 0.0), entry.points)
    return Result(entry.id, points, entry.points, message if points < entry.points else "",
                  _status(points, entry.points))


def run_extra(test: ExtraTest, namespace: Mapping[str, Any],
              time_limit: float = DEFAULT_TIME_LIMIT) -> Result:
    """Run one extra test on ``namespace``; never raises."""
    source = f"extra:{test.name}"

    def result(points: float, message: str, status: str | None = None) -> Result:
        points = min(max(float(points), 0.0), test.points)
        return Result(test.id, points, test.points, "" if points >= test.points else message,
                      status or _status(points, test.points), source)

    try:
        with _time_limit(time_limit):
            outcome = test.test(Answers(namespace))
    except NotAnswered as exc:
        return result(0, f"{UNANSWERED}: {exc}", "not answered")
    except AssertionError as exc:
        return result(0, str(exc) or "failed")
    except Wrong as exc:
        return result(0, str(exc))
    except CheckTimeout:
        return result(0, f"stopped after {time_limit:g} s")
    except Exception as exc:
        return result(0, f"{type(exc).__name__}: {str(exc).strip()}")
    if outcome is None or outcome is True:
        return result(test.points, "")
    if outcome is False:
        return result(0, "failed")
    points, message = outcome
    return result(points, message or "failed")


def _caller_namespace() -> Mapping[str, Any]:
    """The notebook's variables: IPython's ``user_ns`` in a kernel, else the caller's globals."""
    ipython = sys.modules.get("IPython")
    if ipython is not None:
        try:
            shell = ipython.get_ipython()
        except Exception:
            shell = None
        if shell is not None:
            return shell.user_ns
    return sys._getframe(2).f_globals


def check(exercise_id: str, namespace: Mapping[str, Any] | None = None) -> None:
    """Check exercise ``exercise_id`` on the notebook's variables and print one line.

    Prints ``03.2: 2/2 points``, or ``03.2: 0/2 points: <what kind of answer is
    expected>``. It never raises and needs nothing but cnnlabs, so it works offline
    and in Colab. While ``cnnlabs grade`` runs the notebook it does nothing: the
    grader runs every check itself, afterwards. Where ``$CNNLABS_CHECKS_STRICT`` is
    set (CI runs the solution notebooks so), less than full marks raises
    ``AssertionError``, so that a solution that stops earning its points fails.

    Args:
        exercise_id: ``"NN.M"``, as in the exercise's heading.
        namespace: the variables to check (default: the notebook's).
    """
    try:
        if os.environ.get(GRADING_ENV, "").strip():
            print(f"{exercise_id}: checked by the grader")
            return
        ns = namespace if namespace is not None else _caller_namespace()
        result = run(exercise_id, ns)
        print(result.line())
    except Exception as exc:  # check() must never stop a notebook
        print(f"{exercise_id}: could not be checked ({type(exc).__name__}: {exc})")
        return
    if os.environ.get(STRICT_ENV, "").strip() and result.status != "correct":
        raise AssertionError(f"{STRICT_ENV} is set and {result.line()}")


def grade_namespace(lab: int, namespace: Mapping[str, Any],
                    extra_sources: Sequence[tuple[str, str]] = ()) -> list[Result]:
    """Every check of lab ``lab``, then the extra tests for that lab, on ``namespace``.

    ``extra_sources`` are ``(file name, source)`` pairs of extra-test files; tests
    for other labs' exercises are left out.
    """
    results = [run(entry.id, namespace) for entry in lab_exercises(lab)]
    for test in load_extra_tests(extra_sources):
        if test.lab == lab:
            results.append(run_extra(test, namespace))
    return results
