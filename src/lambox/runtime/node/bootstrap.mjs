// lambox's Node.js runtime client: runs a function's handler over the Lambda Runtime API.
//
// Started by the host as `node bootstrap.mjs` in the function's code directory, with
// AWS_LAMBDA_RUNTIME_API, _HANDLER and Lambda's other variables set. Node's standard library
// only. The order of things, as on Lambda's Node.js runtimes:
//   1. load the handler (`index.handler`: index.mjs via import(), index.cjs / index.js via
//      require(), an ES module index.js via import()); failures go to /init/error as
//      Runtime.ImportModuleError, Runtime.UserCodeSyntaxError, Runtime.HandlerNotFound or
//      Runtime.MalformedHandlerName, and the process exits;
//   2. loop: GET /next, call the handler with (event, context, callback), POST the result to
//      /response or the error ({errorType, errorMessage, trace}) to /error.
// A handler answers by settling the promise it returns or by calling callback(err, result);
// the first answer wins. With a callback (or a plain return value) and
// context.callbackWaitsForEmptyEventLoop left true, the answer is sent once the event loop
// has nothing left to do (Node's 'beforeExit'), as Lambda does.
// A handler wrapped in awslambda.streamifyResponse(handler) is called with
// (event, responseStream, context) instead: what it writes is POSTed to /response as it is
// written (chunked, Lambda-Runtime-Function-Response-Mode: streaming); an error after the
// first bytes is sent in the trailers (Lambda-Runtime-Function-Error-Type and -Error-Body).
// awslambda.HttpResponseStream.from(stream, {statusCode, headers, cookies}) writes the HTTP
// metadata a function URL answers with, then 8 NUL bytes, then the body.
// console.* writes one line per call: `<ISO time>\t<request id>\t<LEVEL>\t<message>\n`,
// newlines inside the message turned into '\r' so a record stays one line; with
// AWS_LAMBDA_LOG_FORMAT=JSON, `{"timestamp","level","requestId","message"}` instead, calls
// below AWS_LAMBDA_LOG_LEVEL dropped.

import fs from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { Writable } from "node:stream";
import { pathToFileURL } from "node:url";
import util from "node:util";

const API = process.env.AWS_LAMBDA_RUNTIME_API || "127.0.0.1:9001";
const SEP = API.lastIndexOf(":");
const HOST = API.slice(0, SEP);
const PORT = Number(API.slice(SEP + 1));
const BASE = "/2018-06-01/runtime";
const TASK_ROOT = process.env.LAMBDA_TASK_ROOT || process.cwd();
const SELF = new URL(import.meta.url).pathname;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const pause = new Int32Array(new SharedArrayBuffer(4));

let currentRequestId; // undefined outside an invocation, printed as such (as on Lambda)
let currentTenantId; // a tenant-isolated function's tenant, in its JSON log records

// -- logging -------------------------------------------------------------------------------

function writeAll(text) {
  const buf = Buffer.from(text);
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(1, buf, off);
    } catch (err) {
      if (err.code !== "EAGAIN") throw err;
      Atomics.wait(pause, 0, 0, 1); // stdout is a full non-blocking pipe: let the host read
    }
  }
}

function record(level, args) {
  const message = util.format(...args).replace(/\n/g, "\r");
  writeAll(`${new Date().toISOString()}\t${currentRequestId}\t${level}\t${message}\n`);
}

// LoggingConfig LogFormat JSON: one JSON object per call, as Lambda's Node.js runtime writes
// them, and calls below ApplicationLogLevel (AWS_LAMBDA_LOG_LEVEL) dropped.
const JSON_FORMAT = process.env.AWS_LAMBDA_LOG_FORMAT === "JSON";
const PRIORITY = { TRACE: 1, DEBUG: 2, INFO: 3, WARN: 4, ERROR: 5, FATAL: 6 };
const THRESHOLD = PRIORITY[(process.env.AWS_LAMBDA_LOG_LEVEL || "INFO").toUpperCase()] || 3;

function errorFields(err) {
  return {
    errorType: err?.constructor?.name ?? "UnknownError",
    errorMessage: err.message,
    stackTrace: typeof err.stack === "string" ? err.stack.split("\n") : err.stack,
  };
}

function errorReplacer(_key, value) {
  return value instanceof Error ? Object.assign(errorFields(value), value) : value;
}

// One argument is the message as it is (an object stays an object, an Error becomes
// {errorType, errorMessage, stackTrace}); several are formatted into one string, the first
// Error among them adding its fields to the record.
function jsonRecord(level, args) {
  const result = { timestamp: new Date().toISOString(), level, requestId: currentRequestId };
  if (currentTenantId !== undefined) result.tenantId = currentTenantId;
  if (args.length === 1) {
    result.message = args[0];
    try {
      return JSON.stringify(result, errorReplacer);
    } catch {
      result.message = util.format(args[0]);
      return JSON.stringify(result);
    }
  }
  result.message = util.format(...args);
  const err = args.find((arg) => arg instanceof Error);
  if (err !== undefined) Object.assign(result, errorFields(err));
  return JSON.stringify(result);
}

const LEVELS = {
  log: "INFO",
  info: "INFO",
  warn: "WARN",
  error: "ERROR",
  debug: "DEBUG",
  trace: "TRACE",
  fatal: "FATAL",
};
for (const [method, level] of Object.entries(LEVELS)) {
  if (!JSON_FORMAT) {
    console[method] = (...args) => record(level, args);
  } else if (PRIORITY[level] < THRESHOLD) {
    console[method] = () => {};
  } else {
    console[method] = (...args) => writeAll(jsonRecord(level, args) + "\n");
  }
}

// -- the Runtime API ------------------------------------------------------------------------

function call(method, route, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const sent = body === undefined ? undefined : Buffer.from(body);
    const req = http.request(
      {
        host: HOST,
        port: PORT,
        method,
        path: BASE + route,
        agent,
        headers: sent === undefined ? headers : { ...headers, "Content-Length": sent.length },
      },
      (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(sent);
  });
}

function errorObject(err) {
  if (err instanceof Error) {
    const trace = typeof err.stack === "string" ? err.stack.split("\n") : [];
    return { errorType: err.name, errorMessage: err.message, trace };
  }
  const text = err === undefined ? "undefined" : String(err);
  return { errorType: typeof err, errorMessage: text, trace: [] };
}

function runtimeError(errorType, message, cause) {
  const err = new Error(message);
  err.name = errorType;
  const frames = (cause && typeof cause.stack === "string" ? cause.stack : err.stack).split("\n");
  err.stack = [`${errorType}: ${message}`, ...frames.filter((line) => line.startsWith("    at "))].join("\n");
  return err;
}

async function postError(route, err, label) {
  const shape = errorObject(err);
  if (JSON_FORMAT) console.error(label, err instanceof Error ? err : shape);
  else console.error(label, JSON.stringify({ ...shape, stack: shape.trace, trace: undefined }));
  const res = await call("POST", route, JSON.stringify(shape), {
    "Content-Type": "application/json",
    "Lambda-Runtime-Function-Error-Type": String(shape.errorType).replace(/[^\x20-\x7e]/g, "?"),
  });
  if (res.status !== 202) record("ERROR", [`The Runtime API refused an error: ${res.status} ${res.body}`]);
}

async function failInit(err) {
  try {
    await postError("/init/error", err, "Uncaught Exception");
  } finally {
    process.exit(129);
  }
}

// -- loading the handler -------------------------------------------------------------------

function exists(file) {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

async function loadModule(moduleRoot, name) {
  const base = path.resolve(TASK_ROOT, moduleRoot, name);
  const require = createRequire(path.join(TASK_ROOT, "lambox-handler-loader.js"));
  try {
    if (exists(`${base}.mjs`)) return await import(pathToFileURL(`${base}.mjs`).href);
    if (exists(`${base}.cjs`)) return require(`${base}.cjs`);
    if (exists(`${base}.js`)) {
      try {
        return require(`${base}.js`);
      } catch (err) {
        if (err && err.code === "ERR_REQUIRE_ESM") return await import(pathToFileURL(`${base}.js`).href);
        throw err;
      }
    }
    return require(name);
  } catch (err) {
    if (err instanceof SyntaxError) {
      throw runtimeError("Runtime.UserCodeSyntaxError", `${err.name}: ${err.message}`, err);
    }
    if (err && (err.code === "MODULE_NOT_FOUND" || err.code === "ERR_MODULE_NOT_FOUND")) {
      const own = !exists(`${base}.mjs`) && !exists(`${base}.cjs`) && !exists(`${base}.js`);
      const message = own ? `Cannot find module '${name}'\nRequire stack:\n- ${SELF}` : err.message;
      throw runtimeError("Runtime.ImportModuleError", `Error: ${message}`, err);
    }
    throw err;
  }
}

async function loadHandler(spec) {
  const slash = spec.lastIndexOf("/");
  const moduleRoot = slash >= 0 ? spec.slice(0, slash) : "";
  const rest = spec.slice(slash + 1);
  const dot = rest.indexOf(".");
  if (dot <= 0 || dot === rest.length - 1) {
    throw runtimeError("Runtime.MalformedHandlerName", "Bad handler");
  }
  const name = rest.slice(0, dot);
  const member = rest.slice(dot + 1);
  let target = await loadModule(moduleRoot, name);
  for (const key of member.split(".")) {
    target = target == null ? undefined : target[key];
  }
  if (target === undefined) {
    throw runtimeError("Runtime.HandlerNotFound", `${rest} is undefined or not exported`);
  }
  if (typeof target !== "function") {
    throw runtimeError("Runtime.HandlerNotFound", `${rest} is not a function`);
  }
  return target;
}

// -- response streaming ---------------------------------------------------------------------

const STREAMING = Symbol.for("aws.lambda.runtime.handler.streaming");
const HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response";

// The body of one streamed /response: opened (headers sent) on the first write or at the end.
class ResponseStream extends Writable {
  constructor(id) {
    super();
    this._id = id;
    this._contentType = "application/octet-stream";
    this._req = undefined;
    this.answered = new Promise((resolve, reject) => {
      this._resolve = resolve;
      this._reject = reject;
    });
  }

  setContentType(type) {
    this._contentType = type;
  }

  get opened() {
    return this._req !== undefined;
  }

  _open() {
    if (this._req) return this._req;
    this._req = http.request(
      {
        host: HOST,
        port: PORT,
        method: "POST",
        path: `${BASE}/invocation/${this._id}/response`,
        agent,
        headers: {
          "Content-Type": this._contentType,
          "Lambda-Runtime-Function-Response-Mode": "streaming",
          "Transfer-Encoding": "chunked",
          Trailer: "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body",
        },
      },
      (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () => this._resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
        res.on("error", this._reject);
      },
    );
    this._req.on("error", this._reject);
    this._req.flushHeaders();
    return this._req;
  }

  _write(chunk, encoding, done) {
    this._open().write(chunk, done);
  }

  _final(done) {
    this._open().end(done);
  }

  // Ends the stream with an error in the trailers (the bytes already sent stay sent).
  fail(err) {
    const shape = errorObject(err);
    console.error("Invoke Error", JSON.stringify({ ...shape, stack: shape.trace, trace: undefined }));
    const req = this._open();
    req.addTrailers({
      "Lambda-Runtime-Function-Error-Type": String(shape.errorType).replace(/[^\x20-\x7e]/g, "?"),
      "Lambda-Runtime-Function-Error-Body": Buffer.from(JSON.stringify(shape)).toString("base64"),
    });
    req.end();
  }
}

globalThis.awslambda = {
  streamifyResponse(handler) {
    handler[STREAMING] = "response";
    return handler;
  },
  HttpResponseStream: {
    from(stream, prelude) {
      stream.setContentType(HTTP_INTEGRATION);
      stream.write(JSON.stringify(prelude ?? {}));
      stream.write(Buffer.alloc(8));
      return stream;
    },
  },
};

async function invokeStreaming(handler, id, event, context) {
  const stream = new ResponseStream(id);
  let failure;
  try {
    await handler(event, stream, context);
  } catch (err) {
    failure = err;
  }
  if (failure !== undefined) {
    if (!stream.opened) {
      await postError(`/invocation/${id}/error`, failure, "Invoke Error");
      return;
    }
    stream.fail(failure);
  } else if (!stream.writableEnded) {
    await new Promise((resolve) => stream.end(resolve));
  }
  const res = await stream.answered;
  if (res.status !== 202) record("ERROR", [`The Runtime API refused the response: ${res.status} ${res.body}`]);
}

// -- one invocation ------------------------------------------------------------------------

function parseHeader(value) {
  if (!value) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

function makeContext(headers) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"]);
  const env = process.env;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity: parseHeader(headers["lambda-runtime-cognito-identity"]),
    clientContext: parseHeader(headers["lambda-runtime-client-context"]),
    tenantId: headers["lambda-runtime-aws-tenant-id"],
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

// Runs the handler; resolves with {error} or {result} once the handler has answered: when the
// promise it returned settles, or when it called back (then, unless the context says not to,
// once the event loop is empty). A handler that does neither answers null once the loop is
// empty. The first answer wins.
function runHandler(handler, event, context) {
  return new Promise((resolve) => {
    let done = false;
    let pending;
    const onEmpty = () => finish(pending ?? { result: undefined });
    const finish = (outcome) => {
      if (done) return;
      done = true;
      process.removeListener("beforeExit", onEmpty);
      resolve(outcome);
    };
    const waitForEmptyLoop = () => {
      if (!process.listeners("beforeExit").includes(onEmpty)) process.on("beforeExit", onEmpty);
    };
    const callback = (err, result) => {
      if (done || pending) return;
      const outcome = err === undefined || err === null ? { result } : { error: err };
      if (context.callbackWaitsForEmptyEventLoop) {
        pending = outcome;
        waitForEmptyLoop();
      } else {
        finish(outcome);
      }
    };
    context.done = callback;
    context.succeed = (result) => callback(null, result);
    context.fail = (err) => callback(err ?? "handled");
    let returned;
    try {
      returned = handler(event, context, callback);
    } catch (err) {
      finish({ error: err });
      return;
    }
    if (returned && typeof returned.then === "function") {
      returned.then(
        (result) => pending || finish({ result }),
        (err) => pending || finish({ error: err }),
      );
    } else {
      waitForEmptyLoop();
    }
  });
}

let inFlight;

async function invokeOnce(handler) {
  const next = await call("GET", "/invocation/next");
  if (next.status !== 200) throw new Error(`/invocation/next answered ${next.status}: ${next.body}`);
  const headers = next.headers;
  const id = headers["lambda-runtime-aws-request-id"];
  currentRequestId = id;
  currentTenantId = headers["lambda-runtime-aws-tenant-id"];
  inFlight = id;
  if (headers["lambda-runtime-trace-id"]) process.env._X_AMZN_TRACE_ID = headers["lambda-runtime-trace-id"];
  else delete process.env._X_AMZN_TRACE_ID;
  let outcome;
  try {
    const event = next.body.length ? JSON.parse(next.body.toString("utf8")) : null;
    if (handler[STREAMING] === "response") {
      await invokeStreaming(handler, id, event, makeContext(headers));
      inFlight = undefined;
      return;
    }
    outcome = await runHandler(handler, event, makeContext(headers));
  } catch (err) {
    outcome = { error: err };
  }
  let body;
  if (!("error" in outcome)) {
    try {
      body = JSON.stringify(outcome.result === undefined ? null : outcome.result);
    } catch (err) {
      outcome = { error: err };
    }
  }
  if ("error" in outcome) {
    await postError(`/invocation/${id}/error`, outcome.error, "Invoke Error");
  } else {
    const res = await call("POST", `/invocation/${id}/response`, body, { "Content-Type": "application/json" });
    if (res.status !== 202) record("ERROR", [`The Runtime API refused the response: ${res.status} ${res.body}`]);
  }
  inFlight = undefined;
}

async function main() {
  let handler;
  try {
    handler = await loadHandler(process.env._HANDLER || "");
  } catch (err) {
    await failInit(err);
    return;
  }
  for (;;) await invokeOnce(handler);
}

async function crash(err, errorType) {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const failure = errorType ? runtimeError(errorType, text, err) : err;
  try {
    if (inFlight) await postError(`/invocation/${inFlight}/error`, failure, "Uncaught Exception");
    else await postError("/init/error", failure, "Uncaught Exception");
  } finally {
    process.exit(129);
  }
}

process.on("uncaughtException", (err) => crash(err));
process.on("unhandledRejection", (reason) => crash(reason, "Runtime.UnhandledPromiseRejection"));

main().catch((err) => {
  record("ERROR", ["lambox runtime client failed:", err]);
  process.exit(1);
});
