"""``inquire report`` on real runs of both layouts, rendered in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil

import pandas as pd
import pytest
from report_browser import chromium_page
from report_helpers import fullrank_run, rerank_runs
from typer.testing import CliRunner

from inquire.cli import app
from inquire.errors import InquireError
from inquire.report.html import write_report
from inquire.tasks.evaluate import evaluate_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory, rerank_dir, open_clip_spec, queries_csv):
    return rerank_runs(tmp_path_factory, rerank_dir, queries_csv("test"), open_clip_spec)


@pytest.fixture(scope="module")
def fullrank(tmp_path_factory, queries_csv):
    return fullrank_run(tmp_path_factory.mktemp("fullrank"), queries_csv("test"))


def test_report_in_chromium_shows_every_query_and_run(runs, rerank_dir, tmp_path):
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        app, ["report", str(runs["model"]), str(runs["clip"]), str(runs["clip_evaluated"]), "-o", str(out), "--data", str(rerank_dir), "--resamples", "1000"]
    )
    assert result.exit_code == 0, result.output
    per_query = {name: pd.read_csv(runs[name] / "per_query.csv") for name in ("model", "clip", "clip_evaluated")}
    labels = [json.loads((runs[n] / "summary.json").read_text())["model"] for n in ("model", "clip", "clip_evaluated")]
    figures = sorted(p.name for p in (tmp_path / "report_figures").iterdir())
    assert figures == ["category.png", "iconic_group.png", "overall.png", "supercategory.png"]
    assert all((tmp_path / "report_figures" / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in figures)

    requests = []
    with chromium_page() as page:
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(out.as_uri())
        page.wait_for_load_state("load")
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=False)
        print(f"\nreport screenshot: {shot}")
        assert not errors

        table_queries = page.locator("#queries tbody tr td:nth-child(2)").all_inner_texts()
        card_titles = page.locator("#cards .card h3").all_inner_texts()
        expected = set(per_query["model"]["query"].str.strip())
        assert set(table_queries) == expected and set(card_titles) == expected and len(card_titles) == len(expected)
        assert page.locator("#runs tbody tr td:first-child").all_inner_texts() == labels
        for label in labels:  # every card shows every run
            assert page.locator(".card .run b", has_text=label).count() == len(expected)

        # Overall numbers are the runs' own (percent, one decimal).
        row = page.locator("#runs tbody tr").nth(1).locator("td").all_inner_texts()
        assert row[4] == f"{100 * per_query['clip']['ap'].mean():.1f}"

        # Thumbnails: embedded (data URIs, nothing fetched), relevant ones marked, missed ones listed.
        loaded = page.evaluate("[...document.querySelectorAll('img[data-k]')].filter(i => i.naturalWidth > 0).length")
        assert loaded == page.locator("img[data-k]").count() > 0
        assert all(u.startswith(("file:", "data:")) for u in requests)
        clip_run = pd.read_parquet(runs["clip"] / "run.parquet")
        first = page.locator("#cards .card").first
        query = first.locator("h3").inner_text()
        hits = clip_run[(clip_run["query"].str.strip() == query) & (clip_run["rank"] <= 10)]["relevant"].sum()
        assert first.locator(".run").nth(1).locator(".tile.rel").count() == hits
        # Scored over every candidate, as the official scripts: the page says so, and no candidate is "missed".
        card = first.locator(".run").nth(1).inner_text()
        assert "AP (all)" in card and "Relevant but not in the top" not in card
        assert page.locator("#definition").inner_text().startswith("AP, nDCG and MRR over all of each query's candidates")
        assert "mAP (all)" in page.locator("#runs thead").inner_text()
        assert "No run.parquet" in first.locator(".run").nth(2).inner_text()

        # Sorting by a run's AP reorders the table and the cards alike.
        page.locator("#queries th", has_text=f"AP {labels[0]}").click()
        aps = [float(x) for x in page.locator("#queries tbody tr td:nth-child(7)").all_inner_texts()]
        assert aps == sorted(aps, reverse=True)
        assert page.locator("#cards .card h3").all_inner_texts() == page.locator("#queries tbody tr td:nth-child(2)").all_inner_texts()
        page.locator("#queries th", has_text="Spread").click()
        page.locator("#queries th", has_text="Spread").click()
        spreads = [float(x) for x in page.locator("#queries tbody tr td:last-child").all_inner_texts()]
        assert spreads == sorted(spreads)


def test_runs_of_two_definitions_are_not_reported_side_by_side(runs, rerank_dir, queries_csv, tmp_path):
    scored = tmp_path / "scores.csv"
    pd.read_parquet(runs["clip"] / "run.parquet")[["query", "inat24_image_id", "score"]].to_csv(scored, index=False)
    at_50, _, _ = evaluate_run(scored, split="test", data_dir=rerank_dir, queries_path=queries_csv("test"), k=50,
                               out_dir=tmp_path / "k50")
    with pytest.raises(InquireError, match="over every candidate and .* at k=50: their metrics are not comparable"):
        write_report([runs["model"], at_50], tmp_path / "r.html", n_resamples=10)


def test_report_finds_the_data_a_run_recorded(runs, rerank_dir, queries_csv, tmp_path):
    """A run made with --data records it (and the query list with its checksum); report needs no flag."""
    summary = json.loads((runs["model"] / "summary.json").read_text())
    assert summary["sources"]["rerank_data"]["path"] == str(rerank_dir.resolve())
    assert summary["sources"]["queries"]["path"] == str(queries_csv("test").resolve())
    assert summary["sources"]["queries"]["packaged"] is False and len(summary["sources"]["queries"]["sha256"]) == 64
    with_flag = write_report([runs["model"]], tmp_path / "a.html", data_dir=rerank_dir, n_resamples=200)
    recorded = write_report([runs["model"]], tmp_path / "b.html", n_resamples=200)
    assert recorded.n_thumbnails == with_flag.n_thumbnails > 0
    assert any(str(rerank_dir.resolve()) in note for note in recorded.notes)


def test_report_without_images_says_so(runs, tmp_path):
    moved = tmp_path / "moved-run"
    shutil.copytree(runs["model"], moved)
    summary = json.loads((moved / "summary.json").read_text())
    summary["sources"]["rerank_data"]["path"] = str(tmp_path / "deleted-copy")
    (moved / "summary.json").write_text(json.dumps(summary))
    result = write_report([moved], tmp_path / "r.html", n_resamples=200)
    html = (tmp_path / "r.html").read_text()
    assert result.n_thumbnails == 0
    assert any("deleted-copy) no longer exists" in note for note in result.notes)
    assert any("pass --data DIR" in note for note in result.notes) and "pass --data DIR" in html
    assert html.count('class="card"') == len(pd.read_csv(moved / "per_query.csv"))


def test_fullrank_layout_report_shows_missed_annotations(fullrank, tmp_path):
    result = write_report(
        [fullrank["run"]], tmp_path / "f.html", images_root=fullrank["images"],
        annotations_path=fullrank["annotations"], n_resamples=200,
    )
    html = (tmp_path / "f.html").read_text()
    run = pd.read_parquet(fullrank["run"] / "run.parquet")
    ann = pd.read_csv(fullrank["annotations"])
    assert result.n_thumbnails == len(set(run["image_path"]) | set(ann["image_path"].str[:-4])) and not result.notes
    n_missed = [(ann["query_id"] == q).sum() - run[(run["query_id"] == q)]["relevant"].sum() for q in ann["query_id"].unique()]
    found = [int(n) for n in re.findall(r"Relevant but not in the top 5: (\d+)", html)]
    assert found == [n for n in n_missed if n] and sum(found) > 0

    no_ann = write_report([fullrank["run"]], tmp_path / "g.html", n_resamples=200)
    assert any("--images ROOT" in note for note in no_ann.notes)
    assert "Pass --annotations to see which relevant images were missed." in (tmp_path / "g.html").read_text()


def test_runs_over_different_queries_are_refused_unless_asked(runs, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(runs["clip"], partial)
    pq = pd.read_csv(partial / "per_query.csv")
    pq.iloc[:-2].to_csv(partial / "per_query.csv", index=False)
    (partial / "run.parquet").unlink()
    with pytest.raises(InquireError, match=r"different queries: .*partial.*|different queries: .*has 2 query") as err:
        write_report([runs["model"], partial], tmp_path / "x.html")
    assert "--intersection" in str(err.value) and str(pq["query_id"].iloc[-1]) in str(err.value)
    result = write_report([runs["model"], partial], tmp_path / "x.html", intersection=True, n_resamples=200)
    assert result.n_queries == len(pq) - 2
    assert any("left out" in note for note in result.notes)
    html = (tmp_path / "x.html").read_text()
    assert "1st − 2nd" in html and html.count('class="card"') == len(pq) - 2 and "left out" in html
