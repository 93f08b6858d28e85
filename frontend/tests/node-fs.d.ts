// The one node API the tests use (the project carries no @types/node).
declare module "node:fs" {
  export function readFileSync(path: URL, encoding: "utf8"): string;
}
