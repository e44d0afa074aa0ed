import re
from pathlib import Path
import pytest
from tests.codegen.test_drizzle_kit import drizzle_kit, LIMITATIONS, proposals
from tests.codegen.conftest import generate_into
from tests.support import execute

@pytest.mark.parametrize("server", ["db_url"])
def test_dump(server, drizzle_kit, tmp_path, request):
    url = request.getfixturevalue(server)
    execute(url, Path("/tmp/p10extra.sql").read_text())
    generate_into(url, tmp_path)
    (Path("/tmp/p10extra.ts")).write_text((tmp_path / "schema.postgres.ts").read_text())
    out = proposals(drizzle_kit, url, tmp_path)
    with open(f"/tmp/p10x_{server}.txt", "w") as f:
        for s in out:
            lim = [k for k, p in LIMITATIONS.items() if re.fullmatch(p, s, re.DOTALL)]
            f.write(f"{lim}\t{s}\n")
