"""The SAM template against the code: IAM actions, environment, cfn-lint.

The function role in ``deploy/aws/template.yaml`` must grant exactly the IAM actions mlm's
Rust code needs, and those are kept in ``mlm-aws/src/iam_actions.txt``. This module derives the
set from the code and compares all three:

1. Every AWS SDK operation called in ``mlm-aws/src`` and ``mlm-lambda/src`` (when it exists)
   is found by scanning for fluent-builder calls ``.<operation>()``. The operation names come
   from the SDK crates themselves: ``cargo metadata`` gives each ``aws-sdk-*`` crate's source
   directory, whose ``src/operation/<op>/`` modules are the operations (``<op>.rs`` names the
   operation's API shape, e.g. ``ListObjectsV2``).
2. A call is attributed to a service by the client it is called on: the Rust sources declare
   the clients (``sm: aws_sdk_sagemaker::Client``, ``s3: aws_sdk_s3::Client``, ``let sqs =
   aws_sdk_sqs::Client::new(..)``), so the identifier before ``.<op>()`` names the crate. A
   call on anything else (``self.client().put_object()``) is attributed by the operation name
   when exactly one SDK crate has it; a name several crates share fails with the places, so
   the call can be rewritten on a named client.
3. Each operation maps to ``<iam prefix>:<OperationName>`` except for the documented
   exceptions in ``ACTION_EXCEPTIONS``; ``IMPLIED`` adds actions AWS checks on top of an
   operation (``iam:PassRole`` for CreateModel's execution role, ...).

Comments, string literals and ``#[cfg(test)]`` items (unit tests, which may call the SDK to
set up the emulator) are blanked before scanning.

Lines of ``iam_actions.txt`` marked ``# mlm-lambda`` are actions only the Lambda function
calls. Until mlm-lambda's sources use the SDK crate of such an action's service at all (no
``aws_sdk_sqs::`` in ``mlm-lambda/src`` yet: that code is not written), the line cannot be
checked against code; the test says so in a warning instead of failing. From the first use
on, it is checked like every other line.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "aws" / "template.yaml"
ACTIONS_FILE = ROOT / "mlm-aws" / "src" / "iam_actions.txt"
# Crates whose sources are scanned: (cargo package name, source dir).
SCANNED = [("mlm-aws", ROOT / "mlm-aws" / "src"), ("mlm-lambda", ROOT / "mlm-lambda" / "src")]
LAMBDA_MARK = "mlm-lambda"

# SDK crate -> IAM service prefix. SageMaker Runtime's InvokeEndpoint is sagemaker:InvokeEndpoint.
IAM_PREFIX = {
    "aws-sdk-sagemaker": "sagemaker",
    "aws-sdk-sagemakerruntime": "sagemaker",
    "aws-sdk-cloudwatch": "cloudwatch",
    "aws-sdk-applicationautoscaling": "application-autoscaling",
    "aws-sdk-s3": "s3",
    "aws-sdk-sqs": "sqs",
    "aws-sdk-secretsmanager": "secretsmanager",
}

# Operations whose IAM action is not `<prefix>:<OperationName>`, from the Service
# Authorization Reference ("Actions, resources, and condition keys for Amazon S3 / Amazon
# SQS"). Everything else (SageMaker AddTags/ListTags/DeleteTags, CloudWatch GetMetricData,
# S3 GetObject/PutObject/DeleteObject/AbortMultipartUpload, ...) is its own action.
ACTION_EXCEPTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    # S3: object reads and writes are authorized per object, not per API.
    ("s3", "HeadObject"): ("s3:GetObject",),
    ("s3", "CreateMultipartUpload"): ("s3:PutObject",),
    ("s3", "UploadPart"): ("s3:PutObject",),
    ("s3", "CompleteMultipartUpload"): ("s3:PutObject",),
    ("s3", "UploadPartCopy"): ("s3:GetObject", "s3:PutObject"),
    ("s3", "CopyObject"): ("s3:GetObject", "s3:PutObject"),
    ("s3", "ListObjects"): ("s3:ListBucket",),
    ("s3", "ListObjectsV2"): ("s3:ListBucket",),
    ("s3", "ListObjectVersions"): ("s3:ListBucketVersions",),
    ("s3", "ListParts"): ("s3:ListMultipartUploadParts",),
    ("s3", "HeadBucket"): ("s3:ListBucket",),
    ("s3", "DeleteObjects"): ("s3:DeleteObject",),
    # SQS: batch calls are authorized as their single-message action.
    ("sqs", "SendMessageBatch"): ("sqs:SendMessage",),
    ("sqs", "DeleteMessageBatch"): ("sqs:DeleteMessage",),
    ("sqs", "ChangeMessageVisibilityBatch"): ("sqs:ChangeMessageVisibility",),
}

# Actions AWS checks on top of an operation's own.
IMPLIED: dict[str, tuple[str, ...]] = {
    # CreateModel's ExecutionRoleArn is passed to SageMaker.
    "sagemaker:CreateModel": ("iam:PassRole",),
    # The first scalable target of a SageMaker variant creates Application Auto Scaling's
    # service-linked role (AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint).
    "application-autoscaling:RegisterScalableTarget": ("iam:CreateServiceLinkedRole",),
}

# The function's own housekeeping, granted in the template next to the code's actions
# (scoped to its log group, instead of the AWSLambdaBasicExecutionRole managed policy, which
# grants logs:CreateLogGroup on every log group).
HOUSEKEEPING = {"logs:CreateLogStream", "logs:PutLogEvents"}

# The environment the function reads (mlm-lambda's contract).
FUNCTION_ENV = {
    "MLM_SAGEMAKER_EXECUTION_ROLE_ARN",
    "MLM_STATE_URI",
    "MLM_ARTIFACTS_URI",
    "MLM_DEPLOY_IMAGE",
    "MLM_DEPLOY_MEMORY_MB",
    "MLM_DEPLOY_MAX_CONCURRENCY",
    "MLM_DEPLOY_KEY_PATTERN",
    "MLM_NOTIFY_QUEUE_URL",
    "MLM_TOKENS_SECRET_ARN",
}


# --- Rust sources ---------------------------------------------------------------------------

_LEXEMES = re.compile(
    r"""
    (?P<line_comment>//[^\n]*)
    | (?P<block_comment>/\*.*?\*/)
    | (?P<raw_string>b?r(?P<hashes>\#*)".*?"(?P=hashes))
    | (?P<string>b?"(?:\\.|[^"\\])*")
    | (?P<char>b?'(?:\\.|[^\\'\n])')
    """,
    re.VERBOSE | re.DOTALL,
)


def blank_comments_and_literals(source: str) -> str:
    """The source with comments and literal contents replaced by spaces (newlines kept)."""

    def blank(m: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", m.group(0))

    return _LEXEMES.sub(blank, source)


_CFG_TEST = re.compile(r"#\[cfg\(test\)\]")


def blank_test_items(text: str) -> str:
    """`text` (comments and literals already blanked) without its `#[cfg(test)]` items."""
    out = text
    for m in _CFG_TEST.finditer(text):
        start = m.start()
        i = text.find("{", m.end())
        semi = text.find(";", m.end())
        if i < 0 or (0 <= semi < i):  # `#[cfg(test)] use ...;` or `mod tests;`
            end = semi + 1 if semi >= 0 else m.end()
        else:
            depth = 0
            for end in range(i, len(text)):
                depth += {"{": 1, "}": -1}.get(text[end], 0)
                if depth == 0:
                    end += 1
                    break
        out = out[:start] + re.sub(r"[^\n]", " ", out[start:end]) + out[end:]
    return out


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def rust_files(src: Path) -> list[Path]:
    return sorted(src.rglob("*.rs")) if src.is_dir() else []


# --- SDK crates -----------------------------------------------------------------------------


@cache
def cargo_metadata() -> dict:
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--offline"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        pytest.fail(f"cargo metadata failed (is Cargo.lock up to date?):\n{out.stderr}")
    return json.loads(out.stdout)


def sdk_crate_name(module: str) -> str:
    """`aws_sdk_s3` -> `aws-sdk-s3`."""
    return module.replace("_", "-")


@cache
def operations(manifest_path: str) -> dict[str, str]:
    """snake_case operation -> API name (`list_objects_v2` -> `ListObjectsV2`) of one crate."""
    op_dir = Path(manifest_path).parent / "src" / "operation"
    ops = {}
    for d in sorted(p for p in op_dir.iterdir() if p.is_dir()):
        module = d.with_suffix(".rs")
        m = (
            re.search(r"^pub struct (\w+);", module.read_text(), re.MULTILINE)
            if module.exists()
            else None
        )
        ops[d.name] = m.group(1) if m else "".join(w.capitalize() for w in d.name.split("_"))
    return ops


def sdk_crates_for(package: str, sources: list[Path]) -> tuple[dict[str, dict[str, str]], set[str]]:
    """The SDK crates a scanned crate uses (name -> its operations), and those its sources name.

    Its resolved `aws-sdk-*` dependencies (from `cargo metadata`), plus any SDK crate its
    sources name (`aws_sdk_x::`) that the lock file has. Fails when the sources name an SDK
    crate the lock file lacks, or one without an IAM prefix in `IAM_PREFIX`.
    """
    meta = cargo_metadata()
    by_id = {p["id"]: p for p in meta["packages"]}
    crates: dict[str, dict[str, str]] = {}

    node = next((n for n in meta["resolve"]["nodes"] if by_id[n["id"]]["name"] == package), None)
    if node is not None:
        for dep in node["deps"]:
            p = by_id[dep["pkg"]]
            if p["name"] in IAM_PREFIX and any(k["kind"] is None for k in dep["dep_kinds"]):
                crates[p["name"]] = operations(p["manifest_path"])

    named = set()
    for f in sources:
        text = blank_test_items(blank_comments_and_literals(f.read_text()))
        named |= set(re.findall(r"\b(aws_sdk_\w+)::", text))
    in_lock = {p["name"]: p for p in meta["packages"]}
    problems = []
    for module in sorted(named):
        name = sdk_crate_name(module)
        if name not in IAM_PREFIX:
            problems.append(f"{package} uses {module}: add its IAM prefix to IAM_PREFIX")
        elif name not in in_lock:
            problems.append(f"{package} uses {module}, but {name} is not in Cargo.lock")
        elif name not in crates:
            crates[name] = operations(in_lock[name]["manifest_path"])
    if problems:
        pytest.fail("\n".join(problems))
    return crates, {sdk_crate_name(m) for m in named}


# --- the scan -------------------------------------------------------------------------------

_CLIENT_DECLS = [
    # `sm: aws_sdk_sagemaker::Client`, `client: &aws_sdk_s3::Client`
    re.compile(r"\b(\w+)\s*:\s*&?\s*(?:'\w+\s+)?(?:mut\s+)?(aws_sdk_\w+)::Client\b"),
    # `let sqs = aws_sdk_sqs::Client::new(&config)`
    re.compile(r"\blet\s+(?:mut\s+)?(\w+)\s*(?::[^=;]+)?=\s*(aws_sdk_\w+)::Client::"),
]
_CALL = re.compile(r"\.\s*([a-z][a-z0-9_]*)\s*\(\s*\)")
_RECEIVER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*$")


class Scan:
    """SDK calls found in the scanned crates."""

    def __init__(self) -> None:
        # (crate, API name) -> places
        self.calls: dict[tuple[str, str], list[str]] = {}
        self.by_name: list[str] = []  # calls attributed by operation name alone
        self.ambiguous: list[str] = []
        self.crates_scanned: list[str] = []
        # package -> IAM prefixes of the SDK crates its sources name (`aws_sdk_sqs::...`)
        self.services_named: dict[str, set[str]] = {}

    def actions(self) -> dict[str, list[str]]:
        """IAM action -> the places that need it."""
        out: dict[str, list[str]] = {}
        for (crate, op), places in self.calls.items():
            prefix = IAM_PREFIX[crate]
            for action in ACTION_EXCEPTIONS.get((prefix, op), (f"{prefix}:{op}",)):
                out.setdefault(action, []).extend(places)
                for implied in IMPLIED.get(action, ()):
                    out.setdefault(implied, []).extend(f"{p} (via {action})" for p in places)
        return out


def attribute(result: Scan, texts: dict[str, str], crates: dict[str, dict[str, str]]) -> None:
    """Adds the SDK calls in `texts` (place name -> blanked source) to `result`."""
    receivers: dict[str, set[str]] = {}
    for text in texts.values():
        for decl in _CLIENT_DECLS:
            for ident, module in decl.findall(text):
                receivers.setdefault(ident, set()).add(sdk_crate_name(module))

    for name, text in texts.items():
        for m in _CALL.finditer(text):
            op = m.group(1)
            having = {c for c, ops in crates.items() if op in ops}
            if not having:
                continue
            place = f"{name}:{line_of(text, m.start())}"
            r = _RECEIVER.search(text, 0, m.start())
            receiver = r.group(1) if r else None
            known = receivers.get(receiver or "", set())
            if known:
                owners = known & having
                if not owners:
                    continue  # a method of that name on a client of another crate: not ours
            else:
                owners = having
                if len(having) == 1:
                    result.by_name.append(f"{place}: .{op}() on {receiver or 'an expression'}")
            if len(owners) > 1:
                result.ambiguous.append(f"{place}: .{op}() could be {', '.join(sorted(owners))}")
                continue
            (crate,) = owners
            result.calls.setdefault((crate, crates[crate][op]), []).append(place)


@cache
def scan() -> Scan:
    result = Scan()
    for package, src in SCANNED:
        files = rust_files(src)
        if not files:
            continue
        result.crates_scanned.append(package)
        crates, named = sdk_crates_for(package, files)
        result.services_named[package] = {IAM_PREFIX[c] for c in named}
        texts = {
            str(f.relative_to(ROOT)): blank_test_items(blank_comments_and_literals(f.read_text()))
            for f in files
        }
        attribute(result, texts, crates)
    return result


# --- the list and the template --------------------------------------------------------------


def read_action_list() -> tuple[list[str], set[str]]:
    """(actions in file order, actions marked as called only by mlm-lambda)."""
    actions, lambda_only = [], set()
    for raw in ACTIONS_FILE.read_text().splitlines():
        action, _, comment = raw.partition("#")
        action = action.strip()
        if not action:
            continue
        actions.append(action)
        if comment.strip().startswith(LAMBDA_MARK):
            lambda_only.add(action)
    return actions, lambda_only


class _CfnLoader(yaml.SafeLoader):
    """YAML loader for CloudFormation: `!Ref x` -> {"Ref": x}, `!Sub s` -> {"Fn::Sub": s}..."""


def _cfn_tag(loader: yaml.Loader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


@cache
def template() -> dict:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)


def function_resource() -> tuple[str, dict]:
    functions = [
        (name, r)
        for name, r in template()["Resources"].items()
        if r["Type"] in ("AWS::Serverless::Function", "AWS::Lambda::Function")
    ]
    assert len(functions) == 1, f"expected one function, found {[n for n, _ in functions]}"
    return functions[0]


def statements(doc) -> list[dict]:
    """The statements of a policy document, both branches of any Fn::If included."""
    found = []

    def walk(s):
        if isinstance(s, list):
            for x in s:
                walk(x)
        elif isinstance(s, dict) and "Fn::If" in s:
            _, yes, no = s["Fn::If"]
            walk(yes)
            walk(no)
        elif isinstance(s, dict) and s != {"Ref": "AWS::NoValue"}:
            found.append(s)

    walk(doc["Statement"])
    return found


def function_role_statements() -> list[dict]:
    name, fn = function_resource()
    props = fn["Properties"]
    assert "Policies" not in props, f"{name}: grant IAM on its Role, not with SAM Policies"
    role_ref = props.get("Role")
    assert isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref, (
        f"{name}: Role must be !GetAtt <a role of this template>.Arn"
    )
    role_name = role_ref["Fn::GetAtt"][0]
    resources = template()["Resources"]
    role = resources[role_name]
    assert role["Type"] == "AWS::IAM::Role"
    assert not role["Properties"].get("ManagedPolicyArns"), (
        f"{role_name}: managed policies grant actions this test cannot see; use inline policies"
    )
    found = []
    for policy in role["Properties"].get("Policies", []):
        found += statements(policy["PolicyDocument"])
    # Policies attached from outside the role resource.
    for r in resources.values():
        if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            roles = r["Properties"].get("Roles", [])
            if {"Ref": role_name} in roles:
                found += statements(r["Properties"]["PolicyDocument"])
    return found


def as_list(x) -> list:
    return x if isinstance(x, list) else [x]


# --- tests ----------------------------------------------------------------------------------


def test_scanner_attributes_calls_by_client():
    """The scanner itself, on a made-up crate (comments, strings and unit tests ignored)."""
    crates = {
        "aws-sdk-s3": {"put_object": "PutObject", "head_object": "HeadObject", "tag_resource": "X"},
        "aws-sdk-cloudwatch": {"tag_resource": "TagResource", "put_dashboard": "PutDashboard"},
        "aws-sdk-applicationautoscaling": {"tag_resource": "TagResource"},
    }
    source = """
        struct C { cw: aws_sdk_cloudwatch::Client, store: &'a aws_sdk_s3::Client }
        fn f(c: &C) {
            c.cw.tag_resource().send();           // by the field's type
            c.store
                .head_object()                     // across lines
                .key("x.put_dashboard()");         // not a call: a string
            make().put_object();                   // unknown receiver, unique name
            // c.cw.put_dashboard()                   a comment
            c.cw.put_object();                     // no such operation on that client
            thing().tag_resource();                // unknown receiver, ambiguous name
        }
        #[cfg(test)]
        mod tests { fn t(c: &C) { c.cw.put_dashboard(); } }
    """
    result = Scan()
    attribute(result, {"x.rs": blank_test_items(blank_comments_and_literals(source))}, crates)
    assert result.calls == {
        ("aws-sdk-cloudwatch", "TagResource"): ["x.rs:4"],
        ("aws-sdk-s3", "HeadObject"): ["x.rs:6"],
        ("aws-sdk-s3", "PutObject"): ["x.rs:8"],
    }
    assert result.by_name == ["x.rs:8: .put_object() on an expression"]
    assert len(result.ambiguous) == 1 and result.ambiguous[0].startswith("x.rs:11:")
    assert Scan.actions(result)["s3:GetObject"] == ["x.rs:6"]


def test_action_list_is_sorted_and_unique():
    actions, _ = read_action_list()
    assert actions == sorted(set(actions)), "iam_actions.txt must be sorted, without duplicates"
    for a in actions:
        assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", a), f"not an IAM action: {a!r}"


def test_code_calls_no_ambiguous_operation():
    s = scan()
    assert not s.ambiguous, (
        "SDK operations that several crates have, called on an unnamed client (call them on a "
        "variable or field declared as `aws_sdk_x::Client`):\n" + "\n".join(s.ambiguous)
    )


def test_action_list_matches_the_code():
    s = scan()
    assert "mlm-aws" in s.crates_scanned
    in_code = s.actions()
    listed, lambda_only = read_action_list()

    missing = sorted(set(in_code) - set(listed))
    extra = sorted(set(listed) - set(in_code))
    # Called only by mlm-lambda, whose code for that service is not there (yet): nothing to
    # check them against.
    lambda_services = s.services_named.get("mlm-lambda", set())
    pending = [a for a in extra if a in lambda_only and a.split(":")[0] not in lambda_services]
    if pending:
        warnings.warn(
            "mlm-lambda/src does not use the SDK of these yet, so they are not checked against "
            f"the code: {', '.join(pending)}"
        )
    extra = [a for a in extra if a not in pending]
    problems = [
        f"called but not in iam_actions.txt: {a} (at {', '.join(in_code[a][:3])})" for a in missing
    ] + [f"in iam_actions.txt but called nowhere: {a}" for a in extra]
    assert not problems, "\n".join(problems)


def test_function_role_grants_exactly_the_listed_actions():
    listed, _ = read_action_list()
    granted = set()
    for st in function_role_statements():
        assert st.get("Effect") == "Allow", f"unexpected statement {st}"
        assert "NotAction" not in st, "NotAction grants everything else"
        for action in as_list(st["Action"]):
            assert isinstance(action, str), f"computed action {action!r}"
            assert "*" not in action and "?" not in action, f"wildcard action {action}"
            granted.add(action)
    expected = set(listed) | HOUSEKEEPING
    problems = [f"not granted by the function role: {a}" for a in sorted(expected - granted)]
    problems += [f"granted but not in iam_actions.txt: {a}" for a in sorted(granted - expected)]
    assert not problems, "\n".join(problems)


def test_listed_actions_exist_in_cfn_lint_iam_data():
    import cfnlint

    data = json.loads(
        (Path(cfnlint.__file__).parent / "data" / "AdditionalSpecs" / "Policies.json").read_text()
    )
    listed, _ = read_action_list()
    unknown = []
    for action in sorted(set(listed) | HOUSEKEEPING):
        prefix, name = action.split(":")
        known = {a.lower() for a in data.get(prefix, {}).get("Actions", {})}
        if name.lower() not in known:
            unknown.append(action)
    assert not unknown, f"not IAM actions (per cfn-lint's IAM data): {unknown}"


def test_function_environment_is_the_lambda_contract():
    name, fn = function_resource()
    env = set(fn["Properties"]["Environment"]["Variables"])
    assert env == FUNCTION_ENV, (
        f"{name} environment: missing {sorted(FUNCTION_ENV - env)}, extra {sorted(env - FUNCTION_ENV)}"
    )


def test_cfn_lint_passes():
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    assert cfn_lint.exists(), f"{cfn_lint} missing: install requirements-test.txt"
    out = subprocess.run(
        [str(cfn_lint), str(TEMPLATE.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, f"cfn-lint {TEMPLATE.name}:\n{out.stdout}{out.stderr}"
