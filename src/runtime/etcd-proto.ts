/**
 * The slice of etcd v3's API the client uses (etcd's api/etcdserverpb/rpc.proto, mvccpb/kv.proto and
 * authpb/auth.proto, field numbers unchanged), as a protobufjs JSON descriptor. It is inlined rather than read
 * from a .proto at run time so a compiled binary carries it: a path on the build machine would not exist on a
 * host. Fields the client never reads are left out (protobuf skips unknown fields); int64 fields are decoded
 * as decimal strings by the loader (longs: String).
 */

import type { fromJSON } from "@grpc/proto-loader";

/** protobufjs's JSON descriptor type, as the loader takes it. */
type Descriptor = Parameters<typeof fromJSON>[0];
type Fields = Record<string, { type: string; id: number; rule?: "repeated" }>;

const f = (type: string, id: number): { type: string; id: number } => ({ type, id });
const repeated = (type: string, id: number) => ({ type, id, rule: "repeated" as const });
const message = (fields: Fields, extra: object = {}): { fields: Fields } => ({ fields, ...extra });
const header = { header: f("ResponseHeader", 1) };
const headerOnly = () => message(header);
const empty = () => message({});
const unary = (requestType: string, responseType: string) => ({ requestType, responseType, comment: "" });
const bidi = (requestType: string, responseType: string) => ({
  requestType,
  responseType,
  requestStream: true,
  responseStream: true,
  comment: "",
});

export const ETCD_DESCRIPTOR: Descriptor = {
  nested: {
    mvccpb: {
      nested: {
        KeyValue: message({
          key: f("bytes", 1),
          create_revision: f("int64", 2),
          mod_revision: f("int64", 3),
          version: f("int64", 4),
          value: f("bytes", 5),
          lease: f("int64", 6),
        }),
        Event: message({ type: f("EventType", 1), kv: f("KeyValue", 2) }, {
          nested: { EventType: { values: { PUT: 0, DELETE: 1 } } },
        }),
      },
    },
    authpb: {
      nested: {
        UserAddOptions: message({ no_password: f("bool", 1) }),
        Permission: message({ permType: f("Type", 1), key: f("bytes", 2), range_end: f("bytes", 3) }, {
          nested: { Type: { values: { READ: 0, WRITE: 1, READWRITE: 2 } } },
        }),
      },
    },
    etcdserverpb: {
      nested: {
        KV: {
          methods: {
            Range: unary("RangeRequest", "RangeResponse"),
            Put: unary("PutRequest", "PutResponse"),
            DeleteRange: unary("DeleteRangeRequest", "DeleteRangeResponse"),
            Txn: unary("TxnRequest", "TxnResponse"),
            Compact: unary("CompactionRequest", "CompactionResponse"),
          },
        },
        Watch: { methods: { Watch: bidi("WatchRequest", "WatchResponse") } },
        Lease: {
          methods: {
            LeaseGrant: unary("LeaseGrantRequest", "LeaseGrantResponse"),
            LeaseRevoke: unary("LeaseRevokeRequest", "LeaseRevokeResponse"),
            LeaseKeepAlive: bidi("LeaseKeepAliveRequest", "LeaseKeepAliveResponse"),
          },
        },
        Auth: {
          methods: {
            AuthEnable: unary("AuthEnableRequest", "AuthEnableResponse"),
            UserAdd: unary("AuthUserAddRequest", "AuthUserAddResponse"),
            UserList: unary("AuthUserListRequest", "AuthUserListResponse"),
            UserGrantRole: unary("AuthUserGrantRoleRequest", "AuthUserGrantRoleResponse"),
            RoleAdd: unary("AuthRoleAddRequest", "AuthRoleAddResponse"),
            RoleList: unary("AuthRoleListRequest", "AuthRoleListResponse"),
            RoleGrantPermission: unary("AuthRoleGrantPermissionRequest", "AuthRoleGrantPermissionResponse"),
          },
        },
        ResponseHeader: message({
          cluster_id: f("uint64", 1),
          member_id: f("uint64", 2),
          revision: f("int64", 3),
          raft_term: f("uint64", 4),
        }),
        RangeRequest: message({
          key: f("bytes", 1),
          range_end: f("bytes", 2),
          limit: f("int64", 3),
          revision: f("int64", 4),
          serializable: f("bool", 7),
        }),
        RangeResponse: message({
          ...header,
          kvs: repeated("mvccpb.KeyValue", 2),
          more: f("bool", 3),
          count: f("int64", 4),
        }),
        PutRequest: message({ key: f("bytes", 1), value: f("bytes", 2), lease: f("int64", 3) }),
        PutResponse: headerOnly(),
        DeleteRangeRequest: message({ key: f("bytes", 1), range_end: f("bytes", 2) }),
        DeleteRangeResponse: message({ ...header, deleted: f("int64", 2) }),
        RequestOp: message({
          request_range: f("RangeRequest", 1),
          request_put: f("PutRequest", 2),
          request_delete_range: f("DeleteRangeRequest", 3),
        }, { oneofs: { request: { oneof: ["request_range", "request_put", "request_delete_range"] } } }),
        ResponseOp: message({
          response_range: f("RangeResponse", 1),
          response_put: f("PutResponse", 2),
          response_delete_range: f("DeleteRangeResponse", 3),
        }, { oneofs: { response: { oneof: ["response_range", "response_put", "response_delete_range"] } } }),
        Compare: message({
          result: f("CompareResult", 1),
          target: f("CompareTarget", 2),
          key: f("bytes", 3),
          version: f("int64", 4),
          create_revision: f("int64", 5),
          mod_revision: f("int64", 6),
          value: f("bytes", 7),
          lease: f("int64", 8),
          range_end: f("bytes", 64),
        }, {
          oneofs: {
            target_union: { oneof: ["version", "create_revision", "mod_revision", "value", "lease"] },
          },
          nested: {
            CompareResult: { values: { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } },
            CompareTarget: { values: { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 } },
          },
        }),
        TxnRequest: message({
          compare: repeated("Compare", 1),
          success: repeated("RequestOp", 2),
          failure: repeated("RequestOp", 3),
        }),
        TxnResponse: message({ ...header, succeeded: f("bool", 2), responses: repeated("ResponseOp", 3) }),
        CompactionRequest: message({ revision: f("int64", 1), physical: f("bool", 2) }),
        CompactionResponse: headerOnly(),
        WatchRequest: message({
          create_request: f("WatchCreateRequest", 1),
          cancel_request: f("WatchCancelRequest", 2),
          progress_request: f("WatchProgressRequest", 3),
        }, {
          oneofs: { request_union: { oneof: ["create_request", "cancel_request", "progress_request"] } },
        }),
        WatchCreateRequest: message({
          key: f("bytes", 1),
          range_end: f("bytes", 2),
          start_revision: f("int64", 3),
          progress_notify: f("bool", 4),
          prev_kv: f("bool", 6),
          watch_id: f("int64", 7),
          fragment: f("bool", 8),
        }),
        WatchCancelRequest: message({ watch_id: f("int64", 1) }),
        WatchProgressRequest: empty(),
        WatchResponse: message({
          ...header,
          watch_id: f("int64", 2),
          created: f("bool", 3),
          canceled: f("bool", 4),
          compact_revision: f("int64", 5),
          cancel_reason: f("string", 6),
          fragment: f("bool", 7),
          events: repeated("mvccpb.Event", 11),
        }),
        LeaseGrantRequest: message({ TTL: f("int64", 1), ID: f("int64", 2) }),
        LeaseGrantResponse: message({
          ...header,
          ID: f("int64", 2),
          TTL: f("int64", 3),
          error: f("string", 4),
        }),
        LeaseRevokeRequest: message({ ID: f("int64", 1) }),
        LeaseRevokeResponse: headerOnly(),
        LeaseKeepAliveRequest: message({ ID: f("int64", 1) }),
        LeaseKeepAliveResponse: message({ ...header, ID: f("int64", 2), TTL: f("int64", 3) }),
        AuthEnableRequest: empty(),
        AuthEnableResponse: headerOnly(),
        AuthUserAddRequest: message({
          name: f("string", 1),
          password: f("string", 2),
          options: f("authpb.UserAddOptions", 3),
        }),
        AuthUserAddResponse: headerOnly(),
        AuthUserListRequest: empty(),
        AuthUserListResponse: message({ ...header, users: repeated("string", 2) }),
        AuthUserGrantRoleRequest: message({ user: f("string", 1), role: f("string", 2) }),
        AuthUserGrantRoleResponse: headerOnly(),
        AuthRoleAddRequest: message({ name: f("string", 1) }),
        AuthRoleAddResponse: headerOnly(),
        AuthRoleListRequest: empty(),
        AuthRoleListResponse: message({ ...header, roles: repeated("string", 2) }),
        AuthRoleGrantPermissionRequest: message({ name: f("string", 1), perm: f("authpb.Permission", 2) }),
        AuthRoleGrantPermissionResponse: headerOnly(),
      },
    },
  },
};
