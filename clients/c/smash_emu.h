/*
 * smash_emu.h: a C11 client of smash-emu over its line transport
 * (`smash-emu serve --unix PATH`: one JSON-RPC 2.0 text per line, protocol/README.md
 * §1.9). JSON is Debian's jansson (libjansson-dev); link with -ljansson.
 *
 * Every function that talks to the server returns 0 on success, or:
 *   SMASH_EMU_ETRANSPORT (-1)  the socket failed or the server closed it
 *                              (smash_emu_error() says why);
 *   a JSON-RPC error code      (-32602 invalid params, -32002 wrong mode, ...);
 *                              smash_emu_error() holds the message and
 *                              smash_emu_error_data() the error's data.
 * One connection is one platform (session.attach picks a named one) and is not
 * thread-safe: calls are synchronous, answered in order.
 *
 * Notifications (events.notify) that arrive while a call waits are queued; they
 * are handed to the subscription's callback when the outermost call returns
 * (never inside another callback), or on smash_emu_dispatch(). A subscription
 * without a callback keeps them for smash_emu_next_event().
 *
 * The page mirror: smash_emu_mirror_map() gives a local copy of host pages that
 * code reads and writes as memory; smash_emu_mirror_push() writes what changed
 * locally back to the emulator, smash_emu_mirror_pull() reads every mirrored page
 * again (both in one batch, one round trip). The kernel shim (smash_kernel.h) calls
 * them at wmb()/rmb()/mb().
 */
#ifndef SMASH_EMU_H
#define SMASH_EMU_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SMASH_EMU_ETRANSPORT (-1)
#define SMASH_EMU_PAGE_SIZE 4096u

typedef struct smash_emu smash_emu;

/* A notification of a subscription: topic ("tmpm", "stall", ...), virtual time, its data (borrowed). */
typedef void (*smash_emu_event_fn)(void *arg, const char *topic, uint64_t at_ns, json_t *data);

/* ---- connection ------------------------------------------------------------- */

/* Connects to the server's Unix socket; NULL (errno set) on failure. */
smash_emu *smash_emu_connect(const char *socket_path);
void smash_emu_close(smash_emu *e);
/* The last failure's message (a transport error or a JSON-RPC error). */
const char *smash_emu_error(const smash_emu *e);
/* The last JSON-RPC error's data (borrowed; NULL when it had none). */
json_t *smash_emu_error_data(const smash_emu *e);
/* session.attach {platform}: must be the connection's first call. */
int smash_emu_attach(smash_emu *e, const char *platform);

/* ---- calls -------------------------------------------------------------------- */

/*
 * Calls `method` with `params` (a JSON object, or NULL for none; the reference is
 * stolen). On success *result (when result is not NULL) is the result, to be
 * json_decref'ed by the caller.
 */
int smash_emu_call(smash_emu *e, const char *method, json_t *params, json_t **result);
/* The same with params built by json_pack(fmt, ...) (e.g. "{s:i}", "offset", 0x1c). */
int smash_emu_callf(smash_emu *e, json_t **result, const char *method, const char *fmt, ...);
/* A notification: nothing comes back, not even an error. */
int smash_emu_notify(smash_emu *e, const char *method, json_t *params);

/* ---- subscriptions -------------------------------------------------------------- */

/*
 * events.subscribe {topics}: `topics` is NULL-terminated. With `fn` its
 * notifications go to fn(arg, ...); with fn NULL they queue for
 * smash_emu_next_event(). The subscription id is copied to `id` (when not NULL).
 */
int smash_emu_subscribe(smash_emu *e, const char *const *topics, smash_emu_event_fn fn, void *arg, char *id, size_t id_len);
int smash_emu_unsubscribe(smash_emu *e, const char *id);
/* Hands queued notifications of subscriptions with a callback to their callbacks; returns how many. */
int smash_emu_dispatch(smash_emu *e);
/*
 * The next queued notification of a subscription without a callback: its params
 * {subscriptionId, topic, atNs, data}, new reference. Waits up to timeout_ms for
 * one to arrive (0: do not wait; -1: forever); NULL when none came.
 */
json_t *smash_emu_next_event(smash_emu *e, int timeout_ms);

/* ---- registers (JSON integers on the wire) --------------------------------------- */

int smash_emu_tmpm_read(smash_emu *e, uint32_t offset, uint32_t *value);
int smash_emu_tmpm_write(smash_emu *e, uint32_t offset, uint32_t value);
/* The PSP's SEV mailbox registers (psp.readReg / psp.writeReg). */
int smash_emu_psp_read(smash_emu *e, uint32_t offset, uint32_t *value);
int smash_emu_psp_write(smash_emu *e, uint32_t offset, uint32_t value);

/* ---- host memory (the host's physical view: no RMP, no IOMMU) ---------------------- */

int smash_emu_mem_alloc(smash_emu *e, uint32_t pages, uint64_t *spa);
int smash_emu_mem_free(smash_emu *e, uint64_t spa, uint32_t pages);
/* Reads or writes `count` 64-bit words (any count: split into calls of 65,536 words). */
int smash_emu_mem_read64(smash_emu *e, uint64_t spa, uint64_t *out, size_t count);
int smash_emu_mem_write64(smash_emu *e, uint64_t spa, const uint64_t *values, size_t count);

/* ---- the page mirror ------------------------------------------------------------- */

/* A local, page-aligned copy of `pages` host pages at `spa` (read in now); NULL on failure. */
void *smash_emu_mirror_map(smash_emu *e, uint64_t spa, size_t pages);
/* Stops mirroring (nothing is written back: push first). */
void smash_emu_mirror_unmap(smash_emu *e, void *local);
/* The SPA behind a local address of a mirror; UINT64_MAX when it is not in one. */
uint64_t smash_emu_mirror_spa(const smash_emu *e, const void *local);
/* The local address of `spa` when a mirror holds it, else NULL. */
void *smash_emu_mirror_local(const smash_emu *e, uint64_t spa);
/* Writes the words changed locally since the last sync back to the emulator. */
int smash_emu_mirror_push(smash_emu *e);
/* Reads every mirrored page from the emulator (what the device wrote). */
int smash_emu_mirror_pull(smash_emu *e);
/* push, then pull, in one round trip. */
int smash_emu_mirror_sync(smash_emu *e);

/* ---- time -------------------------------------------------------------------------- */

int smash_emu_clock_now(smash_emu *e, uint64_t *now_ns);
/* Virtual mode: moves the clock by ns (events due run). now_ns may be NULL. */
int smash_emu_clock_advance(smash_emu *e, uint64_t ns, uint64_t *now_ns);

/* ---- values --------------------------------------------------------------------------- */

/* A "0x..." string (or a JSON integer) as a uint64_t; 0 when it is neither. */
uint64_t smash_emu_hex(const json_t *value);
/* The field `key` of an object as smash_emu_hex reads it. */
uint64_t smash_emu_hex_field(const json_t *object, const char *key);
/* A uint64_t as a new "0x..." JSON string. */
json_t *smash_emu_hex_json(uint64_t value);

#ifdef __cplusplus
}
#endif
#endif
