"""Property-based fuzzing of the whole API from its own OpenAPI schema (schemathesis):
whatever it sends, no 500, and every answer matches the documented schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def test_fuzzing_the_api_finds_no_server_error_and_no_schema_violation(serve, tmp_path) -> None:
    served = serve("--demo", "--speed", "20", users={"ada": "admin"})
    run = subprocess.run(
        [str(SCHEMATHESIS), "run", f"{served.url}/openapi.json",
         "-H", f"Authorization: Bearer {served.tokens['ada']}",
         "--checks", "not_a_server_error,response_schema_conformance,content_type_conformance",
         "-n", "12", "--seed", "7", "--generation-database", "none", "--workers", "1",
         "--phases", "coverage,fuzzing", "--no-color"],
        capture_output=True, text=True, cwd=tmp_path, timeout=900)
    tail = run.stdout[-3000:]
    assert run.returncode == 0, tail
    assert " passed" in tail and "failed" not in tail.split("SUMMARY")[-1].replace(
        "0 failed", ""), tail
    assert served.process.poll() is None                    # still up after all of it
