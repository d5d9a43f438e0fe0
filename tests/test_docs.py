"""The user guide (README.md and docs/): the site builds with `mkdocs build --strict`, and
every shell command it shows is run by a test or named as one that cannot run here."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

E2E = "tests/pipeline/test_dvc_e2e.py::"
RETRAIN = "tests/pipeline/test_retrain.py::"
REMOTE = "tests/pipeline/test_dvc_remote.py::"
CLI = "tests/test_cli.py::"
TEXT = "tests/text/test_text_stages.py::"
APPLY = "tests/translation/test_apply.py::"
SERVE = "tests/translation/test_serve.py::test_the_served_translator_answers_as_its_file_does"
BENCH = "tests/test_bench.py::"
RESTYLE_CLI = (
    "tests/restyle/test_restyle_cli.py::"
    "test_a_content_folder_in_one_style_is_a_folder_of_the_same_names"
)
RESTYLE_SERVE = (
    "tests/restyle/test_restyle_serve.py::"
    "test_the_served_restyler_answers_as_its_file_and_the_command_do"
)
TEXT_SERVE = (
    "tests/text/test_text_serve.py::"
    "test_the_served_model_draws_what_its_file_and_ganops_sample_draw"
)
TEAM = "tests/pipeline/test_team_server.py::"
TEAM_SERVER = TEAM + "test_make_server_starts_stops_and_says_in_one_line_why_it_cannot"
# the module's server (`make server AUTH=1`) and `make repro` with the exports, in a fresh repo
TEAM_PIPELINE = TEAM + "test_the_pipeline_logs_to_postgres_and_its_artifacts_through_the_proxy"
SERVED_GENERATOR = (
    "tests/pipeline/test_serve.py::test_a_served_conditional_generator_draws_the_class_asked_for"
)

# A command prefix -> the test that runs it, as "tests/<file>.py::<test>". The longest
# prefix that matches a command wins, here or in CANNOT_RUN_HERE. `python` stands for any
# interpreter path (`.venv/bin/python`), and leading `VAR=value` assignments are dropped.
RUN_BY: dict[str, str] = {
    "make repro": E2E + "test_repro_runs_every_stage",  # `dvc repro`, once .venv is set up
    "dvc repro": E2E + "test_repro_runs_every_stage",
    "make ui": E2E + "test_make_ui_serves_the_runs",
    # tools/walkthrough.py, which `make walkthrough` runs on the workspace's store
    "make walkthrough":
        "tests/test_walkthrough.py::test_the_walkthrough_shows_runs_grid_and_comparison",
    "make retrain": RETRAIN + "test_make_retrain_reports_against_the_baseline",
    "make push": RETRAIN + "test_remote_round_trip_leaves_nothing_to_do",
    "dvc metrics show": E2E + "test_repro_runs_every_stage",
    "dvc metrics diff": E2E + "test_experiments_land_in_the_same_store",
    "make plots": "tests/test_plots_page.py::test_make_plots_draws_every_chart_with_no_network",
    "dvc exp run": E2E + "test_experiments_land_in_the_same_store",
    "dvc exp run --queue": E2E + "test_experiments_land_in_the_same_store",
    # `make retrain SEEDS=2` queues a `range` sweep of train.seed and runs it with --run-all
    "dvc exp run --run-all": RETRAIN + "test_make_retrain_reports_against_the_baseline",
    "dvc exp run -S task=translate": E2E + "test_a_translation_experiment_runs_every_stage",
    # the text task: its seven stage scripts in-process (tiny), as dvc exp run runs them
    "dvc exp run -S task=text":
        TEXT + "test_the_run_logs_losses_quick_scores_and_a_prompt_grid_per_epoch",
    # a folder of captioned images, in each layout, at 32 and 64 px (tiny)
    "dvc exp run -S task=text -S data.folder=":
        "tests/text/test_text_folder.py::test_the_stages_run_on_a_captioned_folder",
    "python bench/text_folder.py":
        "tests/text/test_text_folder.py::test_the_bench_draws_captioned_shapes_and_scores_a_real_run",
    "ganops sample --model data/models/model.pt --out prompts.png --text":
        TEXT + "test_sample_text_draws_a_row_per_prompt",
    "ganops sample --text": TEXT + "test_sample_text_in_the_workspace_needs_no_model_or_out",
    "python bench/text_baselines.py":
        TEXT + "test_the_default_generator_baseline_is_scored_beside_the_table",
    # the restyle task: its seven stage scripts in-process (tiny), as dvc exp run runs them
    "dvc exp run -S task=restyle": "tests/restyle/"
        "test_restyle_stages.py::test_the_run_logs_losses_quick_scores_and_a_grid_per_epoch",
    "dvc exp run -S task=restyle -S downstream.transformed_per_class=": "tests/restyle/"
        "test_restyle_stages.py::test_downstream_tests_every_arm_on_the_test_split_and_on_uci",
    # two domains, and a user's folders (with and without class sub-folders), in-process (tiny)
    "dvc exp run -S task=restyle -S restyle.content_source=mnist-5k -S data.source=uci-digits":
        "tests/restyle/test_restyle_domains.py::test_evaluate_scores_every_way_against_b",
    "dvc exp run -S task=restyle -S restyle.folder=": "tests/restyle/test_restyle_domains.py::"
        "test_the_stages_run_on_a_users_folder_and_say_what_is_not_defined",
    # an unpaired task: its seven stage scripts in-process, MNIST into UCI digits (tiny)
    "dvc exp run -S task=translate -S translate.source=": "tests/translation/"
        "test_translate_stages.py::test_unpaired_task_scores_and_arms_include_the_handmade_transform",
    "dvc exp run -S task=translate -S data.source=uci-digits": "tests/translation/"
        "test_translate_stages.py::test_unpaired_task_scores_and_arms_include_the_handmade_transform",
    # the train stage as DVC starts it, with run.nproc=2 on the CPU (Gloo)
    "dvc exp run -S run.nproc=":
        "tests/pipeline/test_torchrun.py::test_two_gloo_ranks_train_as_one_and_only_rank_0_writes",
    "dvc exp show": E2E + "test_experiments_land_in_the_same_store",
    "ganops exps": E2E + "test_experiments_land_in_the_same_store",
    "dvc params diff": E2E + "test_experiments_land_in_the_same_store",
    "dvc queue start": E2E + "test_experiments_land_in_the_same_store",
    "dvc queue status": E2E + "test_experiments_land_in_the_same_store",
    "dvc remote add -d storage /": RETRAIN + "test_remote_round_trip_leaves_nothing_to_do",
    "git commit .dvc/config": RETRAIN + "test_remote_round_trip_leaves_nothing_to_do",
    # a real WebDAV server (wsgidav, basic auth) on 127.0.0.1 and a bare git repo as origin
    "dvc remote add -d storage webdav://":
        REMOTE + "test_make_pull_in_a_fresh_clone_leaves_nothing_to_do",
    "dvc remote modify --local storage": REMOTE + "test_the_credentials_stay_out_of_git",
    "make pull": REMOTE + "test_make_pull_in_a_fresh_clone_leaves_nothing_to_do",
    "dvc status": REMOTE + "test_make_pull_in_a_fresh_clone_leaves_nothing_to_do",
    "dvc exp run -n fewer-neighbours":
        REMOTE + "test_a_teammates_experiment_arrives_without_retraining",
    "dvc exp push origin": REMOTE + "test_a_teammates_experiment_arrives_without_retraining",
    "dvc exp list origin": REMOTE + "test_a_teammates_experiment_arrives_without_retraining",
    "dvc exp pull origin": REMOTE + "test_a_teammates_experiment_arrives_without_retraining",
    "dvc exp apply": REMOTE + "test_a_teammates_experiment_arrives_without_retraining",
    # the `ganops` command's main(), in-process
    "ganops score": CLI + "test_score_against_the_test_split_and_another_set",
    "ganops score synthetic/": "tests/test_score_sets.py::"
        "test_score_reads_the_class_folders_ganops_sample_writes",
    "ganops sample --model data/models/model.pt -n 64 --out synthetic/": "tests/"
        "test_score_sets.py::test_score_reads_the_class_folders_ganops_sample_writes",
    "ganops sample": CLI + "test_sample_to_npy_npz_and_png",
    "ganops sample --model models:/": CLI + "test_sample_from_an_mlflow_model_uri",
    "ganops sample --model data/models/model.pt --class":
        CLI + "test_sample_the_classes_asked_for",
    "ganops sample --model data/models/model.pt -n 10000 --out synthetic/":
        CLI + "test_a_labelled_folder_that_imagefolder_reads",
    "ganops translate": APPLY + "test_a_folder_comes_out_as_a_folder_with_the_same_names",
    "ganops translate --model models:/":
        APPLY + "test_an_mlflow_translator_translates_as_its_file_does",
    "ganops translate --model data/models/model.pt --direction ba":
        APPLY + "test_an_unpaired_translator_goes_both_ways",
    # a recipe's dvc exp run, queued in a copy of the project (its values and validation:
    # tests/test_project.py checks every shown recipe command with its extra -S)
    "ganops recipe": "tests/test_recipes.py::"
        "test_recipe_run_queues_a_real_experiment_with_the_recipes_params",
    "ganops report": RETRAIN + "test_report_says_when_the_baseline_grid_is_unavailable",
    "ganops report --baseline tidy-lark": RETRAIN + "test_report_against_an_experiment",
    "mlflow models serve": SERVE,
    # the restyler: its command, and its server with content and style in one request
    "ganops restyle": RESTYLE_CLI,
    "ganops restyle --model models:/": RESTYLE_SERVE,
    "mlflow models serve -m models:/ganops-restyler/1": RESTYLE_SERVE,
    "python -c import json, numpy as np; x = np.load('data/processed/test_images.npy')":
        RESTYLE_SERVE,
    "curl -s http://127.0.0.1:5003/invocations": RESTYLE_SERVE,
    # the text-to-image model's server: the request docs/text.md shows, over HTTP
    "mlflow models serve -m models:/ganops-text/1": TEXT_SERVE,
    "curl -s http://127.0.0.1:5004/invocations": TEXT_SERVE,
    # `ganops sample --text` from the registered text model: the bytes its file draws
    "ganops sample --model models:/ganops-text/": "tests/text/test_text_serve.py::"
        "test_ganops_sample_draws_from_the_registry_what_the_file_draws",
    # the serving example's request body, and its POST to /invocations (the test's requests)
    "python -c import json, numpy as np; x = np.load('data/processed/A/test_images.npy')": SERVE,
    "curl -s http://127.0.0.1:5001/invocations": SERVE,
    # the generator's server: a conditional model asked for three sevens over HTTP
    "mlflow models serve -m models:/ganops-generator@champion": SERVED_GENERATOR,
    "ganops promote": RETRAIN + "test_make_retrain_reports_against_the_baseline",
    "curl -s http://127.0.0.1:5002/invocations": SERVED_GENERATOR,
    # the team's tracking server: start, stop, upgrade, and the pipeline logging to it
    "make server": TEAM_SERVER,
    "make server-stop": TEAM_SERVER,
    "make server-upgrade": TEAM_SERVER,
    "make server AUTH=1": TEAM_PIPELINE,
    "export MLFLOW_AUTH_ADMIN_PASSWORD=": TEAM_PIPELINE,
    "export MLFLOW_TRACKING_URI=": TEAM_PIPELINE,
    "export MLFLOW_TRACKING_USERNAME=": TEAM_PIPELINE,
    "export MLFLOW_TRACKING_PASSWORD=": TEAM_PIPELINE,
    # the benchmark scripts, at tiny sizes
    "python bench/train_throughput.py":
        BENCH + "test_train_throughput_prints_both_paths_and_their_ratio",
    "python bench/gpu_repeat.py":
        BENCH + "test_gpu_repeat_finds_the_cpu_repeats_its_bytes_either_way",
    "python bench/time_to_fid.py":
        BENCH + "test_time_to_fid_measures_every_configuration_and_seed_against_the_clock",
    "python bench/cpu_kernels.py":
        BENCH + "test_cpu_kernels_runs_each_setting_twice_to_the_same_bytes",
    "python bench/step_before.py":
        BENCH + "test_step_before_finds_the_same_bytes_for_fewer_flops_than_before_the_change",
    "python bench/text_matching.py":
        "tests/text/test_matching.py::test_the_bench_prints_r_precision_per_seed",
    "python bench/restyle_baselines.py":
        BENCH + "test_restyle_baselines_score_the_four_ways_and_the_trivial_ones_are_exact",
    "python bench/adaptation_table.py": BENCH + "test_the_domain_adaptation_tables_are_the_records",
    "python bench/downstream_together.py":
        BENCH + "test_downstream_together_times_three_ways_of_the_same_networks",
    "python bench/downstream_workers.py":
        BENCH + "test_downstream_workers_times_three_ways_and_the_processes_agree",
    "python bench/recipe_screen.py":
        BENCH + "test_recipe_screen_runs_each_recipe_and_seed_in_a_copy_of_its_own",
    "python bench/restyle_downstream.py --table":
        BENCH + "test_the_restyle_downstream_table_is_the_records",
    "python bench/restyle_geometry.py --table":
        BENCH + "test_the_restyle_geometry_table_is_the_records",
    "python bench/small_folder.py":
        BENCH + "test_small_folder_draws_paired_shapes_and_scores_a_real_run_beside_the_identity",
    # the bytes of this CPU (in full, and --quick beside it: the same kernels in fewer
    # steps), and of an emulated Intel one, --quick, side by side
    "python tools/cpu_digests.py":
        "tests/test_cpu_kinds.py::test_the_quick_run_computes_through_every_kernel_of_the_full_one",
    "qemu-x86_64 -cpu Haswell":
        "tests/test_cpu_kinds.py::test_an_emulated_intel_avx2_cpu_computes_the_same_bytes",
}  # fmt: skip

# A command prefix -> why no test runs it (here: in the test suite, offline, on a CPU).
CANNOT_RUN_HERE: dict[str, str] = {
    "make test": "it is the test suite itself",
    "python bench/downstream_together.py --device cuda":
        "needs a CUDA GPU; test_bench.py runs the same script on the CPU",
    "qemu-x86_64 -cpu EPYC-Milan":
        "a second emulated CPU, 2 minutes more in every make test; test_cpu_kinds.py runs "
        "the Haswell one, the other maker with AVX2 only",
    "dvc exp run -S data.source=fashion-mnist":
        "downloads Fashion-MNIST; the tests are offline (test_downloads.py serves its files)",
    "dvc exp run -S data.source=cifar10":
        "downloads CIFAR-10; the tests are offline (test_downloads.py serves its archive)",
    "dvc exp run -S task=translate -S translate.folder=data/facades":
        "needs pix2pix's facades data set, a download (test_folders.py runs its layout)",
    "dvc remote add -d storage s3://": "needs an S3 bucket and its credentials",
    "dvc remote add -d storage ssh://":
        "needs an SSH server and an account on it; test_dvc_remote.py runs a WebDAV server",
    "torchrun --nnodes=2": "needs two nodes (test_torchrun.py runs two processes on one)",
    "python bench/score_speed.py":
        "times scoring on the workspace's `make repro` outputs; tests assert no times",
    "python bench/pipeline_time.py":
        "times the whole pipeline from a fresh clone; test_bench.py checks its timer",
    "python bench/reference_work.py":
        "a benchmark (about half a minute); test_bench.py runs each of its parts at tiny sizes",
    "python bench/conditional_search.py":
        "a benchmark: trains 50-epoch conditional GANs in turn",
    "python bench/conditional_cost.py":
        "a benchmark: trains the default and the conditional recipe from a fresh clone",
    "python bench/time_to_fid.py --throughput": "a benchmark: times each CPU setting's step",
    "python bench/translation.py":
        "a benchmark: every translation configuration through the seven stages, about an hour",
    "wait": "the shell waiting for a benchmark the block above started with `&`",
    "python bench/restyle_downstream.py --seed":
        "a benchmark: the default restyler through the seven stages, about 20 minutes a seed",
    "python bench/restyle_geometry.py --weight":
        "a benchmark: a restyler through the stages up to evaluate, about 8 minutes a run",
    "python bench/semi_supervised.py":
        "a benchmark: the few-labels recipe through the seven stages over GAN seeds, 46 minutes"
        " (test_bench.py checks its recipe; test_semi_supervised.py runs the stages tiny)",
}  # fmt: skip


def _mkdocs(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The venv's `mkdocs` (installed with the `dev` extra), run in `cwd`."""
    mkdocs = Path(sys.executable).parent / "mkdocs"
    assert mkdocs.is_file(), f"{mkdocs}: missing; pip install -e '.[dev]'"
    return subprocess.run(
        [str(mkdocs), *args],
        cwd=cwd,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_guide_builds_strict(tmp_path: Path) -> None:
    done = _mkdocs("build", "--strict", "--site-dir", str(tmp_path / "site"), cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    home = (tmp_path / "site" / "index.html").read_text()
    assert "Quickstart" in home and "train_evaluator" in home  # the README's overview
    for page in (ROOT / "docs").glob("*.md"):
        if page.name != "index.md":
            assert (tmp_path / "site" / page.stem / "index.html").is_file(), page.name


@pytest.mark.parametrize(
    ("link", "message"),
    [
        ("[a section](scores.md#no-such-section)", "does not contain an anchor '#no-such-section'"),
        ("[a page](no-such-page.md)", "'no-such-page.md', but the target is not found"),
        ("[a file outside docs/](../dvc.yaml)", "'../dvc.yaml', but the target is not found"),
    ],
)
def test_a_broken_link_fails_the_build(link: str, message: str, tmp_path: Path) -> None:
    """The check can fail: a copy of the guide with one broken link does not build."""
    for name in ("mkdocs.yml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=shutil.ignore_patterns("*.png"))
    with (tmp_path / "docs" / "data.md").open("a") as page:
        page.write(f"\nSee {link}.\n")
    done = _mkdocs("build", "--strict", "--site-dir", str(tmp_path / "site"), cwd=tmp_path)
    assert done.returncode != 0
    assert "Doc file 'data.md' contains a link" in done.stderr and message in done.stderr


def shell_commands(text: str) -> list[str]:
    """The commands of a page's ```bash blocks, one string each: continuation lines joined,
    `$ ` prompts, comments and leading `VAR=value` assignments dropped, and any path to an
    interpreter written `python`."""
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line.strip().removeprefix("$ "), comments=True)
            while words and re.match(r"[A-Za-z_]\w*=", words[0]):
                words = words[1:]
            if words:
                if words[0].endswith("/python"):
                    words[0] = "python"
                commands.append(" ".join(words))
    return commands


def _entry(command: str) -> str | None:
    """The longest prefix of `command` in either table; one that ends in a letter or digit
    ends at a word boundary (`make test` is no prefix of `make test-fast`)."""
    prefixes = [
        prefix
        for prefix in (*RUN_BY, *CANNOT_RUN_HERE)
        if command == prefix or command.startswith(prefix + " " if prefix[-1].isalnum() else prefix)
    ]
    return max(prefixes, key=len, default=None)


COMMANDS = {(page.name, c) for page in PAGES for c in shell_commands(page.read_text())}


def test_every_shown_command_is_run_by_a_test_or_said_to_be_unrunnable() -> None:
    assert ("README.md", "make repro") in COMMANDS  # the collector sees the blocks
    unknown = sorted(f"{page}: {command}" for page, command in COMMANDS if not _entry(command))
    assert not unknown, (
        "commands in the guide that no test runs: add each to RUN_BY in tests/test_docs.py "
        "with the test that runs it, or to CANNOT_RUN_HERE with the reason:\n" + "\n".join(unknown)
    )


def test_every_entry_names_a_real_test_and_is_used() -> None:
    assert not set(RUN_BY) & set(CANNOT_RUN_HERE)
    for prefix, test in RUN_BY.items():
        path, name = test.split("::")
        source = (ROOT / path).read_text()
        assert re.search(rf"^def {name}\(", source, re.M), f"{prefix}: no {test}"
    used = {_entry(command) for _, command in COMMANDS}
    assert sorted(set(RUN_BY) - used) == [] and sorted(set(CANNOT_RUN_HERE) - used) == []
