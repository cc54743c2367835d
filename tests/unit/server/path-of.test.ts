import { expect, test } from "bun:test";
import { pathOf } from "../../../src/server/path-of.ts";

test("pathOf reads relative URLs (dockerd 20.10's empty Host) and absolute ones alike", () => {
  expect(pathOf("/AuthZPlugin.AuthZReq")).toBe("/AuthZPlugin.AuthZReq");
  expect(pathOf("/AuthZPlugin.AuthZReq?x=1")).toBe("/AuthZPlugin.AuthZReq");
  expect(pathOf("http://plugin.moby.localhost/Plugin.Activate")).toBe("/Plugin.Activate");
  expect(pathOf("http:///Plugin.Activate")).toBe("/Plugin.Activate");
  expect(pathOf("http://host")).toBe("/");
});
