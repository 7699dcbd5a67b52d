"""The Deep Research pipeline: parsing, the end-to-end run on fake models (stage outputs, the failed-plan
path, hand-computed costs), resuming after an interruption, the web adapter inside the pipeline, and
(slow) the offline pipeline with the packaged models."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mi_utils.backends.base import Generation, SamplingParams
from mi_utils.costs import PriceNotFoundError, PriceTable, default_price_table
from mi_utils.deep_research import (
    PAPER_TASK_IDS,
    CallRecord,
    DeepResearchConfig,
    Extraction,
    Plan,
    PlanItem,
    Pricing,
    Report,
    ResearchTask,
    Setting,
    load_deepresearch_bench,
    load_research_tasks,
    parse_extraction,
    parse_plan,
    run_deep_research,
    summarise,
)
from mi_utils.deep_research.race import Criterion, RaceCriteria, RaceJudge
from mi_utils.deep_research.retrieval import Source, TavilySearch, WebSearchRetriever
from mi_utils.store import JsonlStore

from conftest import team_data_dir


# ============================================================================ parsing
def test_parse_plan_reads_json_anywhere_and_keeps_n_pairs():
    text = (
        'Sure! ```json\n{"queries": [{"query": "nike revenue 2019", "subtask": "find revenue"},\n'
        '{"Search_Query": "nike gross margin", "sub_task": "find margin"},\n{"query": "nike risks"},'
        '{"query": "NIKE REVENUE 2019", "subtask": "dup"}, {"query": "extra", "subtask": "x"},],\n'
        '"strategy": "compare years"}\n```'
    )
    items, strategy, err = parse_plan(text, 3)
    assert err is None and strategy == "compare years"
    assert items == [
        PlanItem("nike revenue 2019", "find revenue"),
        PlanItem("nike gross margin", "find margin"),
        PlanItem("nike risks", "nike risks"),
    ]  # missing sub-task defaults to the query


def test_parse_plan_repairs_broken_replies_and_reports_shortfalls():
    # single quotes and a cut-off reply: the 'query:' lines still carry the pairs
    cut = '{"queries": [\n  {"query": "mgm liquidity 2020",\n   "subtask": "how cash was raised"},\n  {"query": "mgm casino clos'
    items, _, err = parse_plan(cut, 2)
    assert items[0] == PlanItem("mgm liquidity 2020", "how cash was raised")
    items, _, err = parse_plan(
        "Here is my plan:\n1. Two web search queries:\n2. F-35 share of sales\n3. Lockheed backlog 2022\n", 2
    )
    assert [i.query for i in items] == ["F-35 share of sales", "Lockheed backlog 2022"] and err is None
    items, _, err = parse_plan('{"queries": [{"query": "<search query>", "subtask": "<what to find out>"}]}', 2)
    assert items == [] and "no usable" in err  # placeholders copied from the prompt are not queries
    items, _, err = parse_plan('{"queries": ["one query only"]}', 2)
    assert len(items) == 1 and "1 usable" in err
    assert parse_plan("", 2)[2] == "empty reply"


@pytest.mark.parametrize(
    "reply, text, relevant, method",
    [
        ('{"explanation": "Revenue was $39.1 billion.", "relevant": true}', "Revenue was $39.1 billion.", True, "json"),
        ("```json\n{'explanation': 'nothing here', 'relevant': 'no'}\n```", "nothing here", False, "json"),
        (
            '{"explanation": "Backlog rose to $150 billion and the F-35',
            "Backlog rose to $150 billion and the F-35",
            None,
            "regex",
        ),
        ('"relevant": true, "explanation": "cut', "cut", True, "regex"),
        ("The source talks about casinos.", "The source talks about casinos.", None, "none"),
        (
            '{"explanation": "<the relevant facts from the source; empty if there are none>", "relevant": true}',
            "",
            True,
            "json",
        ),
    ],
)
def test_parse_extraction(reply, text, relevant, method):
    got_text, got_rel, got_method, err = parse_extraction(reply)
    assert (got_text, got_rel, got_method) == (text, relevant, method)
    assert (err is None) == (method == "json" and relevant is not None and text != "")


# ============================================================================ fakes
USAGE = {  # (input, output) tokens per call, by stage: the hand computations below use these
    "plan": (1000, 200),
    "extract": (3000, 100),
    "synthesise": (5000, 800),
    "baseline": (20000, 800),
    "judge": (500, 5),
}


def _stage(prompt: str) -> str:
    if "planner of a research assistant" in prompt:
        return "plan"
    if "Extract from the source" in prompt:
        return "extract"
    if "Findings from the sources, numbered" in prompt:
        return "synthesise"
    if "Sources, numbered" in prompt:
        return "baseline"
    if "expert judge" in prompt:
        return "judge"
    raise AssertionError(f"unexpected prompt: {prompt[:80]}")


class FakeModel:
    """A generator whose replies are a function of the stage and prompt, with fixed API-style usage."""

    def __init__(self, name, reply, fail_on=None):
        self.model_name = name
        self.reply = reply
        self.fail_on = fail_on  # (call number, exception) to simulate a crash
        self.calls: list[str] = []
        self.messages: list[list[dict]] = []

    def generate(self, prompts, params):
        out = []
        for msgs in prompts:
            self.messages.append(list(msgs))
            stage = _stage(msgs[0]["content"])  # plan repairs keep the plan prompt first
            self.calls.append(stage)
            if self.fail_on and len(self.calls) == self.fail_on[0]:
                raise self.fail_on[1]
            n_in, n_out = USAGE[stage]
            out.append(
                [
                    Generation(
                        self.reply(stage, msgs),
                        [],
                        [],
                        params,
                        finish_reason="stop",
                        meta={"usage": {"prompt_tokens": n_in, "completion_tokens": n_out}},
                    )
                ]
            )
        return out


def predictor_reply(stage, msgs):
    prompt = msgs[0]["content"]
    if stage == "plan":
        if "BROKEN" in prompt:
            return "{queries: [oops"  # never parseable, whatever the repair turn says
        return json.dumps(
            {
                "queries": [{"query": f"topic {i}", "subtask": f"find part {i}"} for i in range(3)],
                "strategy": "compare the parts",
            }
        )
    if stage in ("synthesise", "baseline"):
        return "# Report\nThe first part [1], the second [2][2], and an invented one [9]."
    raise AssertionError(stage)


def compressor_reply(stage, msgs):
    prompt = msgs[0]["content"]
    src = prompt.split("Source: ")[1].split("\n")[0]  # "topic i / doc j"
    j = int(src.rsplit(" ", 1)[1])
    if j == 0:
        return json.dumps({"explanation": f"facts from {src}", "relevant": True})
    return '{"explanation": "nothing useful", "relevant": false}' if "topic 0" in src else "I cannot read this."


def judge_reply(stage, msgs):
    prompt = msgs[0]["content"]
    if "Score Report 2" in prompt:
        return "5/10"
    return "7/10"


class FakeRetriever:
    name = "fake-retriever"

    def __init__(self):
        self.queries = []

    def search(self, query, k):
        self.queries.append(query)
        return [
            Source(
                id=f"{query}#{j}",
                title=f"{query} / doc {j}",
                text=f"Text of {query}, document {j}. " * 40,
                score=1.0 / (j + 1),
                rank=j,
                retriever=self.name,
                chars_total=0,
            )
            for j in range(k)
        ]


def _criteria(task_id):
    return RaceCriteria(
        task_id,
        "t",
        {"comprehensiveness": 0.5, "readability": 0.5},
        (Criterion("comprehensiveness", "covers", 1.0), Criterion("readability", "reads", 1.0)),
    )


TASKS = [
    ResearchTask("ok-task", "Research the topic.", _criteria("ok-task")),
    ResearchTask("broken-task", "Research the BROKEN topic.", _criteria("broken-task")),
]
CONFIG = DeepResearchConfig(n_queries=3, sources_per_query=2, max_source_chars=300, max_plan_attempts=2)
GPT4O = (2.50, 10.00)  # USD per 1M tokens (the paper's August 2025 figures)


def _pricing(**kw):
    return Pricing(priced_as={"fake-predictor": "gpt-4o", "fake-judge": "gpt-4o-mini"}, **kw)


def _run(
    tmp_path, compressor=None, predictor=None, judge=True, config=CONFIG, pricing=None, retriever=None, store="s.jsonl"
):
    predictor = predictor or FakeModel("fake-predictor", predictor_reply)
    compressor = compressor or FakeModel("fake-compressor", compressor_reply)
    return run_deep_research(
        TASKS,
        predictor=predictor,
        settings=[Setting("baseline"), Setting("small", compressor, "other")],
        retriever=retriever or FakeRetriever(),
        store=tmp_path / store,
        config=config,
        pricing=pricing or _pricing(),
        judge=RaceJudge(FakeModel("fake-judge", judge_reply)) if judge else None,
        progress=False,
    )


def _cost(n_in, n_out, price=GPT4O):
    return n_in / 1e6 * price[0] + n_out / 1e6 * price[1]


# ============================================================================ end to end
def test_end_to_end_two_tasks_stage_outputs_failure_path_and_costs(tmp_path):
    predictor = FakeModel("fake-predictor", predictor_reply)
    res = _run(tmp_path, predictor=predictor)
    rows = res.rows.set_index(["task_id", "setting"])

    # --- plan: parsed, complete; the broken planner fails after the bounded attempts
    plan = res.plans["ok-task"]
    assert isinstance(plan, Plan) and plan.ok and plan.complete and plan.attempts == 1
    assert [i.query for i in plan.items] == ["topic 0", "topic 1", "topic 2"] and plan.strategy == "compare the parts"
    bad = res.plans["broken-task"]
    assert not bad.ok and bad.attempts == CONFIG.max_plan_attempts and bad.error and len(bad.raw) == 2
    repair = [m for m in predictor.messages if "BROKEN" in m[0]["content"]][1]  # the retry shows the bad reply
    assert [m["role"] for m in repair] == ["user", "assistant", "user"] and repair[1]["content"] == "{queries: [oops"
    assert "could not be used" in repair[2]["content"] and "exactly 3" in repair[2]["content"]
    for setting in ("baseline", "small"):
        r = rows.loc[("broken-task", setting)]
        assert r["status"] == "plan_failed" and r["n_sources"] == 0
        assert r["api_cost_usd"] == pytest.approx(2 * _cost(1000, 200))  # two planner calls, money spent
        assert pd.isna(r.get("race_total"))

    # --- sources: 3 queries x 2 sources, cut at the budget
    srcs = res.sources["ok-task"]
    assert [len(g) for g in srcs] == [2, 2, 2]
    assert all(isinstance(s, Source) and len(s.text) == 300 and s.truncated for g in srcs for s in g)

    # --- extractions: one per source, parsed; doc 0 relevant, doc 1 irrelevant (topic 0) or unreadable
    exs = res.extractions[("ok-task", "small")]
    assert len(exs) == 6 and all(isinstance(e, Extraction) and isinstance(e.call, CallRecord) for e in exs)
    assert [e.relevant for e in exs] == [True, False, True, None, True, None]
    assert [e.method for e in exs] == ["json", "json", "json", "none", "json", "none"]
    assert all(e.input_chars == 300 and e.call.role == "compressor" and e.call.cost_usd == 0 for e in exs)
    small = rows.loc[("ok-task", "small")]
    assert small["extraction_rate"] == pytest.approx(3 / 6) and small["n_unparsed"] == 2 and small["n_findings"] == 3

    # --- reports: citations checked against what was given
    rep = res.reports[("ok-task", "small")]
    assert isinstance(rep, Report) and rep.text.startswith("# Report")
    assert rep.cited == [1, 2] and rep.invalid_citations == [9] and len(rep.inputs) == 3
    assert [i["source_id"] for i in rep.inputs] == ["topic 0#0", "topic 1#0", "topic 2#0"]
    assert len(res.reports[("ok-task", "baseline")].inputs) == 6

    # --- costs, by hand: predictor priced as gpt-4o, compressor free
    plan_cost = _cost(1000, 200)  # 0.0045
    assert small["cost_plan_usd"] == pytest.approx(0.0045)
    assert small["cost_extract_usd"] == 0 and small["tokens_in_extract"] == 6 * 3000 and small["calls_extract"] == 6
    assert small["cost_synthesise_usd"] == pytest.approx(_cost(5000, 800))  # 0.0205
    assert small["api_cost_usd"] == pytest.approx(plan_cost + 0.0205)  # 0.025
    base = rows.loc[("ok-task", "baseline")]
    assert base["api_cost_usd"] == pytest.approx(plan_cost + _cost(20000, 800))  # 0.0625
    assert small["api_cost_usd"] / base["api_cost_usd"] == pytest.approx(0.4)

    # --- RACE, pairwise against the baseline: the judge gives Report 1 (small) 7/10, Report 2 (baseline) 5/10
    assert small["race_total"] == pytest.approx(7.0) and base["race_total"] == pytest.approx(5.0)
    assert small["race_relative"] == pytest.approx(7 / 12) and base["race_relative"] == 0.5
    assert small["race_comprehensiveness"] == pytest.approx(7.0) and base["race_readability"] == pytest.approx(5.0)
    assert small["race_coverage"] == 1.0 and base["race_coverage"] == 1.0 and base["race_comparisons"] == 1
    score = res.scores[("ok-task", "small")]
    assert [c.rating for c in score.criteria] == [7.0, 7.0] and [c.reference_rating for c in score.criteria] == [
        5.0,
        5.0,
    ]
    assert small["judge_tokens_in"] == 2 * 2 * 500 and base["judge_tokens_in"] == 0  # comparisons count with small
    judge_call = _cost(500, 5, (0.15, 0.60))  # judge priced as gpt-4o-mini; kept apart from the pipeline's cost
    assert small["judge_cost_usd"] == pytest.approx(4 * judge_call) and base["judge_cost_usd"] == 0
    # --- the calls frame has every call once per setting
    calls = res.calls
    assert set(calls["stage"]) == {"plan", "extract", "synthesise", "judge"}
    assert len(calls[(calls.task_id == "ok-task") & (calls.setting == "small") & (calls.stage == "extract")]) == 6

    # --- the store has every stage, and the summary is the hand-computed one
    kinds = pd.Series([r["kind"] for r in JsonlStore(res.store_path).rows()]).value_counts().to_dict()
    assert kinds == {"plan": 2, "retrieval": 3, "extraction": 6, "report": 2, "judge": 2, "result": 4}
    summ = summarise(res.rows)
    assert summ.loc["small", "n_ok"] == 1 and summ.loc["small", "n_failed"] == 1
    assert summ.loc["small", "api_cost_usd"] == pytest.approx((0.025 + 0.009) / 2)
    assert summ.loc["small", "cost_fraction"] == pytest.approx((0.025 + 0.009) / (0.0625 + 0.009))
    assert summ.loc["small", "score_fraction"] == pytest.approx(7 / 5)


def test_cost_policy_priced_compressor_local_models_and_missing_prices(tmp_path):
    table = default_price_table()
    table.mark_local("fake-judge")
    pricing = Pricing(
        table=table, priced_as={"fake-predictor": "gpt-4o", "fake-compressor": "gpt-4o-mini"}, free_roles=()
    )
    res = _run(tmp_path, pricing=pricing)
    small = res.rows.set_index(["task_id", "setting"]).loc[("ok-task", "small")]
    assert small["cost_extract_usd"] == pytest.approx(6 * _cost(3000, 100, (0.15, 0.60)))
    assert small["api_cost_usd"] == pytest.approx(
        _cost(1000, 200) + 6 * _cost(3000, 100, (0.15, 0.60)) + _cost(5000, 800)
    )
    assert small["judge_cost_usd"] == 0
    # a packaged model is local and free unless priced as a cloud model
    assert Pricing().cost("predictor", "smollm2-135m-instruct", 10**6, 10**6) == (0.0, None)
    assert Pricing(priced_as={"smollm2-135m-instruct": "gpt-4o"}).cost(
        "predictor", "smollm2-135m-instruct", 10**6, 10**6
    ) == (12.5, "gpt-4o")
    assert Pricing().cost("compressor", "gpt-4o", 10**6, 0) == (0.0, None)  # free role
    # an unpriced model fails before any call is made
    predictor = FakeModel("mystery-model", predictor_reply)
    with pytest.raises(PriceNotFoundError, match="mystery-model"):
        _run(tmp_path, predictor=predictor, pricing=Pricing(table=PriceTable({})))
    assert predictor.calls == []


def test_interrupted_run_resumes_without_redoing_work(tmp_path):
    reference = _run(tmp_path, store="ref.jsonl")

    # interrupted during the 4th extraction
    crashing = FakeModel("fake-compressor", compressor_reply, fail_on=(4, KeyboardInterrupt("simulated interruption")))
    predictor = FakeModel("fake-predictor", predictor_reply)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, compressor=crashing, predictor=predictor, store="run.jsonl")
    assert crashing.calls.count("extract") == 4
    assert predictor.calls == ["plan", "baseline"]  # the first task's plan and baseline report
    # a truncated last line (killed mid-write) is tolerated
    with open(tmp_path / "run.jsonl", "a") as f:
        f.write('{"key": "half-writ')

    compressor2, predictor2 = (
        FakeModel("fake-compressor", compressor_reply),
        FakeModel("fake-predictor", predictor_reply),
    )
    retriever2 = FakeRetriever()
    with pytest.warns(UserWarning, match="truncated"):
        resumed = _run(tmp_path, compressor=compressor2, predictor=predictor2, retriever=retriever2, store="run.jsonl")
    assert compressor2.calls == ["extract"] * 3  # only the three extractions not yet stored
    assert predictor2.calls == ["synthesise", "plan", "plan"]  # the finished plan and baseline report are read back
    assert retriever2.queries == []  # retrievals too

    drop = [c for c in reference.rows.columns if c.startswith(("seconds_", "judge_seconds"))]
    pd.testing.assert_frame_equal(
        reference.rows.drop(columns=drop + ["result_key"]),
        resumed.rows.drop(columns=drop + ["result_key"]),
        check_like=True,
    )

    # a third run does nothing at all
    c3, p3 = FakeModel("fake-compressor", compressor_reply), FakeModel("fake-predictor", predictor_reply)
    again = _run(tmp_path, compressor=c3, predictor=p3, store="run.jsonl")
    assert c3.calls == [] and p3.calls == [] and again.n_written == 0


def test_an_error_in_one_setting_is_recorded_not_stored_and_retried(tmp_path):
    broken = FakeModel("fake-compressor", compressor_reply, fail_on=(2, RuntimeError("server said 500")))
    res = _run(tmp_path, compressor=broken, judge=False)
    rows = res.rows.set_index(["task_id", "setting"])
    assert rows.loc[("ok-task", "small"), "status"] == "error"
    assert "server said 500" in rows.loc[("ok-task", "small"), "error"]
    assert rows.loc[("ok-task", "baseline"), "status"] == "ok"  # the run went on
    fixed = FakeModel("fake-compressor", compressor_reply)
    again = _run(tmp_path, compressor=fixed, judge=False)
    assert fixed.calls == ["extract"] * 5  # the one finished extraction was kept
    assert (again.rows.set_index(["task_id", "setting"]).loc[("ok-task", "small"), "status"]) == "ok"


def test_concurrent_extraction_gives_the_same_results_in_order(tmp_path):
    seq = _run(tmp_path, judge=False, store="a.jsonl")
    par = _run(
        tmp_path,
        judge=False,
        store="b.jsonl",
        config=DeepResearchConfig(**{**CONFIG.__dict__, "compressor_concurrency": 4}),
    )
    assert [e.to_dict() | {"call": None} for e in seq.extractions[("ok-task", "small")]] == [
        e.to_dict() | {"call": None} for e in par.extractions[("ok-task", "small")]
    ]


def test_plan_fallback_searches_with_the_task_text(tmp_path):
    cfg = DeepResearchConfig(**{**CONFIG.__dict__, "plan_fallback": "task"})
    res = _run(tmp_path, config=cfg, judge=False)
    bad = res.plans["broken-task"]
    assert bad.ok and bad.fallback and not bad.complete and bad.error
    assert [i.query for i in bad.items] == ["Research the BROKEN topic."]
    rows = res.rows.set_index(["task_id", "setting"])
    assert rows.loc[("broken-task", "small"), "status"] == "ok" and rows.loc[("broken-task", "small"), "plan_fallback"]
    with pytest.raises(ValueError):
        DeepResearchConfig(plan_fallback="guess")
    # task_query: the task text is searched too, after the planner's queries
    res = _run(
        tmp_path, config=DeepResearchConfig(**{**cfg.__dict__, "task_query": True}), judge=False, store="tq.jsonl"
    )
    plan = res.plans["ok-task"]
    assert [i.query for i in plan.items] == ["topic 0", "topic 1", "topic 2", "Research the topic."]
    assert plan.task_query and plan.complete and len(res.sources["ok-task"]) == 4
    assert len(res.plans["broken-task"].items) == 1  # the fallback is the task query already


def test_web_search_adapter_inside_the_pipeline_never_stores_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-SECRET-KEY-123")

    class Session:
        def __init__(self):
            self.n = 0

        def post(self, url, json=None, timeout=None, headers=None):
            assert headers["Authorization"] == "Bearer tvly-SECRET-KEY-123"
            self.n += 1
            q = json["query"]

            class R:
                status_code = 200

                @staticmethod
                def json():
                    return {
                        "results": [
                            {
                                "url": f"https://ex.example/{q.replace(' ', '-')}/{j}",
                                "title": f"{q} / doc {j}",
                                "content": "snippet",
                                "raw_content": f"Page about {q}, number {j}. " * 30,
                            }
                            for j in range(json["max_results"])
                        ]
                    }

            return R()

    session = Session()
    retriever = WebSearchRetriever(TavilySearch(session=session), fetcher=lambda url: pytest.fail("no fetch needed"))
    res = _run(tmp_path, retriever=retriever, judge=False)
    assert session.n == 3
    srcs = res.sources["ok-task"]
    assert [len(g) for g in srcs] == [2, 2, 2] and srcs[0][0].url.startswith("https://ex.example/")
    assert res.rows.set_index(["task_id", "setting"]).loc[("ok-task", "small"), "status"] == "ok"
    stored = (tmp_path / "s.jsonl").read_text()
    assert "SECRET" not in stored and "SECRET" not in res.rows.to_json() and "SECRET" not in res.calls.to_json()
    # a second run reads the searches back: no new (paid) requests
    _run(tmp_path, retriever=WebSearchRetriever(TavilySearch(session=session)), judge=False)
    assert session.n == 3


# ============================================================================ tasks
def test_bundled_tasks_have_rubrics_and_name_their_documents():
    tasks = load_research_tasks()
    assert {t.collection for t in tasks} == {"passages", "financebench"}
    for t in tasks:
        assert t.criteria is not None and t.documents and t.prompt
        assert sum(t.criteria.dimension_weights.values()) == pytest.approx(1.0)
    assert [t.id for t in load_research_tasks(ids=["fb-mgm", "pd-equality"])] == ["fb-mgm", "pd-equality"]
    with pytest.raises(KeyError):
        load_research_tasks(ids=["nope"])


@pytest.mark.skipif(
    not (team_data_dir() / "deepresearch_bench" / "query.jsonl").exists(), reason="DeepResearch Bench not available"
)
def test_deepresearch_bench_tasks_include_the_papers_twenty():
    en = load_deepresearch_bench()
    assert len(en) == 50 and all(t.language == "en" for t in en)
    paper = load_deepresearch_bench(ids=PAPER_TASK_IDS)
    assert [t.id for t in paper] == [str(i) for i in PAPER_TASK_IDS]
    assert all(t.criteria is not None and t.criteria.prompt == t.prompt for t in paper)


# ============================================================================ real models (slow)
@pytest.mark.slow
def test_offline_pipeline_with_packaged_models_on_two_tasks(tmp_path, hf_backend):
    """Two passage tasks; SmolLM2 plans, writes and judges (pairwise against the baseline); Gemma 3 270M compresses."""
    import torch

    from mi_utils.backends.hf import HFBackend
    from mi_utils.deep_research import task_documents
    from mi_utils.deep_research.retrieval import BM25Retriever

    torch.set_num_threads(1)
    tasks = load_research_tasks(collection="passages")
    cfg = DeepResearchConfig(
        n_queries=2,
        sources_per_query=1,
        max_source_chars=600,
        min_queries=1,
        max_plan_attempts=1,
        plan_fallback="task",
        keep_unmarked=True,
        plan_params=SamplingParams(temperature=0.6, max_new_tokens=48),
        extract_params=SamplingParams(temperature=0.7, max_new_tokens=32),
        synth_params=SamplingParams(temperature=0.6, max_new_tokens=48),
    )
    settings = [Setting("baseline"), Setting("gemma3", HFBackend("gemma3-270m"), "gemma3")]
    kw = dict(
        predictor=hf_backend,
        settings=settings,
        retriever=BM25Retriever(task_documents(tasks)),
        store=tmp_path / "dr.jsonl",
        config=cfg,
        pricing=Pricing(priced_as={"smollm2-135m-instruct": "gpt-4o"}),
        judge=RaceJudge(hf_backend, mode="logprob", max_report_chars=600),
        progress=False,
    )
    res = run_deep_research(tasks, **kw)
    rows = res.rows
    assert len(rows) == 4 and set(rows["status"]) == {"ok"}
    assert (rows["api_cost_usd"] > 0).all() and (rows["cost_extract_usd"] == 0).all()
    comp = rows[rows.setting != "baseline"]
    assert comp["n_extractions"].ge(1).all() and comp["extraction_rate"].between(0, 1).all()
    assert rows["race_total"].between(0, 10).all() and rows["race_coverage"].eq(1.0).all()
    assert comp["race_relative"].between(0, 1).all()
    calls = res.calls
    assert (calls.loc[calls.stage != "judge", "output_tokens"] > 0).all() and (calls["seconds"] > 0).all()
    # rerun: everything is read back
    again = run_deep_research(tasks, **kw)
    assert again.n_written == 0
    pd.testing.assert_series_equal(again.rows["race_total"], rows["race_total"])


def test_without_a_reference_every_report_is_judged_alone(tmp_path):
    judge_model = FakeModel("fake-judge", judge_reply)
    res = run_deep_research(
        TASKS[:1],
        predictor=FakeModel("fake-predictor", predictor_reply),
        settings=[Setting("baseline"), Setting("small", FakeModel("fake-compressor", compressor_reply))],
        retriever=FakeRetriever(),
        store=tmp_path / "abs.jsonl",
        config=CONFIG,
        pricing=_pricing(),
        judge=RaceJudge(judge_model),
        reference=None,
        progress=False,
    )
    rows = res.rows.set_index("setting")
    assert rows.loc["baseline", "race_total"] == pytest.approx(7.0) and rows.loc[
        "small", "race_total"
    ] == pytest.approx(7.0)
    assert rows["race_relative"].isna().all()
    assert all("Report 1:" not in m[0]["content"] for m in judge_model.messages)  # absolute prompts only
    # the fake writes the same report for both settings: the second one's verdicts are read back, not re-judged
    assert len(judge_model.messages) == 2
