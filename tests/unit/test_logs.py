"""app.runtime.logs: the GUI's rotating log file in the data directory, the CLI's stderr, nothing duplicated."""

from __future__ import annotations

import logging
import logging.handlers

import pytest

from app.runtime import logs, paths


@pytest.fixture
def root_logger():
    """Restore the root logger (pytest's own handlers, its level) after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    logs.configure(stderr_level=None)  # closes the handlers configure() installed
    root.handlers[:] = handlers
    root.setLevel(level)


def test_log_file_is_in_the_data_dir_and_rotates(root_logger, monkeypatch, tmp_path):
    monkeypatch.setenv("KOMPAKT_DATA_DIR", str(tmp_path / "data"))
    assert logs.log_file() == tmp_path / "data" / "logs" / "kompakt.log" == paths.logs_dir() / "kompakt.log"
    monkeypatch.setattr(logs, "MAX_BYTES", 2000)
    assert logs.configure(file=logs.log_file()) == logs.log_file() == logs.current_log_file()
    logs.configure(file=logs.log_file())  # a second call replaces, never duplicates, the handlers
    assert sum(isinstance(h, logging.handlers.RotatingFileHandler) for h in root_logger.handlers) == 1
    logging.getLogger("kompakt.test").debug("not at info level")
    for i in range(60):
        logging.getLogger("kompakt.test").info("line %d of the test", i)
    files = sorted(p.name for p in logs.log_file().parent.iterdir())
    assert files[:2] == ["kompakt.log", "kompakt.log.1"] and len(files) <= 1 + logs.BACKUPS, files
    text = "".join(p.read_text(encoding="utf-8") for p in logs.log_file().parent.iterdir())
    assert "INFO" in text and "kompakt.test: line 59 of the test" in text and "not at info level" not in text


def test_unwritable_log_file_is_reported_and_skipped(root_logger, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert logs.configure(file=blocker / "kompakt.log") is None and logs.current_log_file() is None
    assert "cannot write the log file" in capsys.readouterr().err
    logging.getLogger("kompakt.test").warning("still logged")
    assert "WARNING kompakt.test: still logged" in capsys.readouterr().err
