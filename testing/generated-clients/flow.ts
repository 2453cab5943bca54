// The lifecycle through a TypeScript client: types generated from docs/openapi.json by
// openapi-typescript, calls made with openapi-fetch. Create a model and a version, deploy them
// (a variant without `weight`), invoke with a JSON body, scale with the update shorthand,
// delete. Type-checked with `tsc --strict` and run against a live server by
// scripts/generated-clients.sh.
//
//   node flow.js BASE_URL TOKEN     (next to the generated api.d.ts)

import createClient from "openapi-fetch";
import type { components, paths } from "./api.js";

type Endpoint = components["schemas"]["Endpoint"];
type Problem = components["schemas"]["Problem"];

const MODEL = "generated-typescript";
const ENDPOINT = "generated-typescript";
const SENTENCE = "Baseball is one of the most popular sports in the United States.";
const POLL_MS = 60_000;

const [baseUrl, token] = process.argv.slice(2);
if (!baseUrl || !token) {
  throw new Error("usage: node flow.js BASE_URL TOKEN");
}
const client = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });

/** The data of a call, or a thrown error with what the server said. */
function expect<T>(what: string, result: { data?: T; error?: unknown; response: Response }): T {
  if (result.data === undefined) {
    throw new Error(`${what}: ${result.response.status} ${JSON.stringify(result.error)}`);
  }
  return result.data;
}

/** Calls `done` until it holds, for at most POLL_MS. */
async function poll(what: string, done: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + POLL_MS;
  while (!(await done())) {
    if (Date.now() > deadline) {
      throw new Error(`${what}: not done after ${POLL_MS / 1000}s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function getEndpoint(): Promise<Endpoint> {
  const params = { path: { endpoint: ENDPOINT } };
  return expect("get endpoint", await client.GET("/v1/endpoints/{endpoint}", { params }));
}

async function inService(): Promise<boolean> {
  const endpoint = await getEndpoint();
  if (endpoint.status === "Failed") {
    throw new Error(`endpoint failed: ${endpoint.failure_reason ?? "no reason given"}`);
  }
  return endpoint.status === "InService";
}

async function gone(): Promise<boolean> {
  const params = { path: { endpoint: ENDPOINT } };
  const { error, response } = await client.GET("/v1/endpoints/{endpoint}", { params });
  const problem: Problem | undefined = error;
  return response.status === 404 && problem?.type === "https://mlm.dev/problems/not_found";
}

async function deploy(): Promise<void> {
  const model = expect("create model", await client.POST("/v1/models", { body: { name: MODEL } }));
  const version = expect(
    "create version",
    await client.POST("/v1/models/{model}/versions", {
      params: { path: { model: MODEL } },
      body: { artifact_uri: "examples/agnews-classifier/model", image: "agnews-classifier" },
    }),
  );
  console.log(`registered ${model.name} version ${version.version}`);
  // No weight and no instance_count: both are optional in the spec (the server defaults them).
  const variant: components["schemas"]["VariantSpec"] = {
    name: "primary",
    model_version: { model: MODEL, version: version.version },
    instance_type: "ml.m5.large",
  };
  const created = expect(
    "create endpoint",
    await client.POST("/v1/endpoints", { body: { name: ENDPOINT, variants: [variant] } }),
  );
  console.log(`endpoint ${created.name} is being created`);
  await poll("endpoint creation", inService);
}

async function invoke(): Promise<void> {
  const body: components["schemas"]["InvocationBody"] = { sentence: SENTENCE };
  const answer = expect(
    "invoke",
    await client.POST("/v1/endpoints/{endpoint}/invocations", {
      params: { path: { endpoint: ENDPOINT } },
      body,
    }),
  );
  // The answer's type is the union of the route's media types; this one is JSON.
  if (typeof answer !== "object" || answer["category"] !== "Sports") {
    throw new Error(`invoke: expected category Sports, got ${JSON.stringify(answer)}`);
  }
  console.log(`invoked: ${answer["category"]}`);
}

async function scaleAndDelete(): Promise<void> {
  const params = { path: { endpoint: ENDPOINT } };
  const body = { instance_count: 2 };
  expect("scale", await client.PATCH("/v1/endpoints/{endpoint}", { params, body }));
  await poll("scaling", inService);
  const variant = (await getEndpoint()).variants[0];
  if (variant?.desired_instance_count !== 2) {
    throw new Error(`scale: expected 2 instances, got ${JSON.stringify(variant)}`);
  }
  console.log("scaled to 2");
  const deleted = await client.DELETE("/v1/endpoints/{endpoint}", { params });
  if (deleted.response.status !== 202) {
    throw new Error(`delete endpoint: ${deleted.response.status} ${JSON.stringify(deleted.error)}`);
  }
  await poll("endpoint deletion", gone);
  const version = await client.DELETE("/v1/models/{model}/versions/{version}", {
    params: { path: { model: MODEL, version: 1 } },
  });
  const model = await client.DELETE("/v1/models/{model}", { params: { path: { model: MODEL } } });
  if (version.response.status !== 204 || model.response.status !== 204) {
    throw new Error(`delete: ${version.response.status} ${model.response.status}`);
  }
  console.log("deleted");
}

await deploy();
await invoke();
await scaleAndDelete();
console.log("typescript flow: ok");
