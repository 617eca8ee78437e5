"""The README's shell commands work as written: every `robust-snn` command in its bash blocks runs here, in
order, in a scratch folder, at tiny size (fewer epochs and chips, `demo --quick`)."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
TINY = {"--epochs": "1", "--chips": "2"}


def readme_commands():
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    commands = []
    for block in blocks:
        for line in block.splitlines():
            for part in line.split("&&"):
                words = shlex.split(part.strip())
                if words and words[0] == "robust-snn":
                    commands.append(words)
    return commands


def shrink(words):
    out = list(words)
    for i, word in enumerate(out[:-1]):
        if word in TINY:
            out[i + 1] = TINY[word]
    if out[1] == "demo":
        out.append("--quick")
    if out[1] in ("train", "evaluate", "demo"):
        out.append("--quiet")
    return out


def test_the_readme_names_the_main_commands():
    names = {c[1] for c in readme_commands()}
    assert {"demo", "train", "attack", "evaluate", "export", "methods", "devices"} <= names


def test_every_readme_command_runs(tmp_path):
    from test_data_folder import make_word_folder

    make_word_folder(tmp_path / "my_words")  # the user's own WAV files of the `folder:my_words` lines
    for words in readme_commands():
        cmd = [sys.executable, "-m", "robust_snn", *shrink(words)[1:]]
        proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{' '.join(words)}\n{proc.stderr[-2000:]}"
    assert (tmp_path / "demo-out" / "report" / "README.md").exists()
    assert (tmp_path / "demo-out" / "config.toml").exists()
    assert (tmp_path / "report" / "report.md").exists() and (tmp_path / "model.bundle.rsnn").exists()
    assert (tmp_path / "my_words.card.json").exists() and (tmp_path / "my_words.bundle.rsnn").exists()
