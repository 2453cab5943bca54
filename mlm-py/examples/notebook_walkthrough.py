# ---
# The `.py` twin of a notebook (percent format: each `# %%` is a cell; Jupytext, VS Code and
# PyCharm open it as a notebook). Run it from the repository root:
#
#     python mlm-py/examples/notebook_walkthrough.py
#
# It uses the local backend with the repository's example runtime, so it needs no cloud
# account. MLM_DATA_DIR chooses where the local backend keeps its state (default: a fresh
# temporary directory). The test suite runs it headless and checks its output.
# ---

# %% [markdown]
# # mlm walkthrough: register, deploy, invoke, watch, scale, clean up
#
# We open a client, register the AG_NEWS example classifier as a model version, deploy it to
# an endpoint, ask it a question, watch its instances, scale it out and clean up.

# %%
import os
import tempfile

import mlm

data_dir = os.environ.get("MLM_DATA_DIR") or tempfile.mkdtemp(prefix="mlm-walkthrough-")
# No config: like `mlm serve`, the client finds the repository's examples/ folder and
# registers its `agnews-classifier` runtime.
client = mlm.Client.local(data_dir=data_dir)
print(client)

# %% [markdown]
# ## Register a model version
# A model is a name; each version is an immutable artifact + the runtime (locally) or
# container image (on AWS) that serves it. Names are the idempotency key, so re-running the
# cell is safe.

# %%
try:
    client.create_model("agnews", description="AG_NEWS topic classifier")
except mlm.AlreadyExistsError:
    pass

version = client.create_version(
    "agnews",
    "examples/agnews-classifier/model",
    "agnews-classifier",
    description="naive Bayes baseline",
)
version = client.update_version("agnews", version.version, approval="approved")
print(f"registered {version.ref} ({version.approval})")

# %% [markdown]
# ## Deploy
# `wait=True` shows the status transitions and the elapsed time while the instance starts.

# %%
endpoint = client.create_endpoint(
    "agnews", version, instance_type="ml.m5.large", instance_count=1, wait=True
)
print(f"endpoint {endpoint.name} is {endpoint.status}")
endpoint  # in a notebook: a table of the variants

# %% [markdown]
# ## Invoke
# Dicts are sent as JSON; the answer's `.json()` parses the model's reply.

# %%
answer = client.invoke(
    "agnews", {"sentence": "Baseball is one of the most popular sports in the United States."}
)
print("prediction:", answer.json()["category"], "from variant", answer.variant)

# %% [markdown]
# ## Watch the instances
# Each instance is a process with its own figures (CPU, memory, requests in flight).

# %%
instances = client.instances("agnews")
print(instances)
instances  # in a notebook: an HTML table

# %% [markdown]
# ## Scale out
# A capacity-only change: the new instance starts, then takes traffic.

# %%
client.update_endpoint("agnews", instance_count=2, wait=True)
print("instances after scaling:", len(client.instances("agnews")))
for _ in range(4):
    client.invoke("agnews", "The central bank raised interest rates")
invocations = client.metrics("agnews", "invocations", window=600, period=60, statistic="sum")
print("invocations recorded:", int(sum(sum(s.values) for s in invocations)))

# %% [markdown]
# ## Clean up
# Deleting an endpoint stops its instances; a deployed version cannot be deleted before.

# %%
client.delete_endpoint("agnews", wait=True)
client.delete_version("agnews", version.version)
client.delete_model("agnews")
client.close()
print("cleaned up")
