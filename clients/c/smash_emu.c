/*
 * smash_emu.c: the line-transport client (see smash_emu.h). One JSON text per
 * line each way; calls are synchronous; notifications that arrive meanwhile are
 * queued and dispatched when the outermost call returns.
 */
#define _DEFAULT_SOURCE
#include "smash_emu.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* mem.read64 / mem.write64 take at most this many words a call (protocol/README.md §1.3). */
#define WORDS_PER_CALL 65536u
#define WORDS_PER_PAGE (SMASH_EMU_PAGE_SIZE / 8u)

struct subscription {
	char id[64];
	smash_emu_event_fn fn;
	void *arg;
	struct subscription *next;
};

struct event {
	json_t *params; /* {subscriptionId, topic, atNs, data} */
	struct event *next;
};

struct mirror {
	uint64_t spa;
	size_t pages;
	uint64_t *local;  /* what the code reads and writes */
	uint64_t *shadow; /* the emulator's contents at the last sync */
	struct mirror *next;
};

struct smash_emu {
	int fd;
	char *buf; /* bytes read and not yet split into lines */
	size_t len, cap;
	long long next_id;
	int depth;	 /* calls in progress (a callback may call) */
	int dispatching; /* inside a callback: no nested dispatch */
	int closed;	 /* the server said session.closed: error holds its reason */
	char error[512];
	json_t *error_data;
	struct subscription *subs;
	struct event *events, *events_tail;
	struct mirror *mirrors;
};

static void set_error(smash_emu *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->error, sizeof(e->error), fmt, ap);
	va_end(ap);
}

smash_emu *smash_emu_connect(const char *socket_path)
{
	struct sockaddr_un addr;
	if (strlen(socket_path) >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, socket_path);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return NULL;
	}
	smash_emu *e = calloc(1, sizeof(*e));
	if (e == NULL) {
		close(fd);
		return NULL;
	}
	e->fd = fd;
	e->next_id = 1;
	return e;
}

void smash_emu_close(smash_emu *e)
{
	if (e == NULL)
		return;
	close(e->fd);
	free(e->buf);
	json_decref(e->error_data);
	while (e->subs != NULL) {
		struct subscription *s = e->subs;
		e->subs = s->next;
		free(s);
	}
	while (e->events != NULL) {
		struct event *ev = e->events;
		e->events = ev->next;
		json_decref(ev->params);
		free(ev);
	}
	while (e->mirrors != NULL)
		smash_emu_mirror_unmap(e, e->mirrors->local);
	free(e);
}

const char *smash_emu_error(const smash_emu *e)
{
	return e->error;
}

json_t *smash_emu_error_data(const smash_emu *e)
{
	return e->error_data;
}

/* ---- the wire --------------------------------------------------------------- */

static json_t *read_line(smash_emu *e, int timeout_ms, int *timed_out);
static void take_notification(smash_emu *e, json_t *msg);

/* After a failed write: the server closed first, and its last lines (session.closed) say why. */
static void read_last_words(smash_emu *e)
{
	int timed_out;
	json_t *msg;
	while ((msg = read_line(e, 1000, &timed_out)) != NULL) {
		if (json_is_object(msg) && json_object_get(msg, "method") != NULL && json_object_get(msg, "id") == NULL)
			take_notification(e, msg);
		json_decref(msg);
	}
}

static int send_json(smash_emu *e, json_t *msg)
{
	if (e->closed)
		return SMASH_EMU_ETRANSPORT;
	char *text = json_dumps(msg, JSON_COMPACT);
	if (text == NULL) {
		set_error(e, "cannot encode the request as JSON");
		return SMASH_EMU_ETRANSPORT;
	}
	size_t n = strlen(text);
	text[n] = '\n'; /* json_dumps' terminator becomes the line's end */
	const char *p = text;
	size_t left = n + 1;
	while (left > 0) {
		ssize_t w = send(e->fd, p, left, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			set_error(e, "write to the server failed: %s", strerror(errno));
			free(text);
			read_last_words(e);
			return SMASH_EMU_ETRANSPORT;
		}
		p += w;
		left -= (size_t)w;
	}
	free(text);
	return 0;
}

/*
 * The next line from the server, parsed (new reference). timeout_ms as poll();
 * *timed_out is set when nothing complete arrived in time. NULL on failure.
 */
static json_t *read_line(smash_emu *e, int timeout_ms, int *timed_out)
{
	*timed_out = 0;
	for (;;) {
		char *nl = e->len > 0 ? memchr(e->buf, '\n', e->len) : NULL;
		if (nl != NULL) {
			size_t line_len = (size_t)(nl - e->buf);
			json_error_t jerr;
			json_t *msg = json_loadb(e->buf, line_len, 0, &jerr);
			memmove(e->buf, nl + 1, e->len - line_len - 1);
			e->len -= line_len + 1;
			if (msg == NULL) {
				set_error(e, "the server sent a line that is not JSON: %s", jerr.text);
				return NULL;
			}
			return msg;
		}
		if (timeout_ms >= 0) {
			struct pollfd pfd = { .fd = e->fd, .events = POLLIN };
			int r = poll(&pfd, 1, timeout_ms);
			if (r < 0 && errno == EINTR)
				continue;
			if (r == 0) {
				*timed_out = 1;
				return NULL;
			}
		}
		if (e->cap - e->len < 65536) {
			size_t cap = e->cap == 0 ? 131072 : e->cap * 2;
			char *grown = realloc(e->buf, cap);
			if (grown == NULL) {
				set_error(e, "out of memory reading from the server");
				return NULL;
			}
			e->buf = grown;
			e->cap = cap;
		}
		ssize_t r = read(e->fd, e->buf + e->len, e->cap - e->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (!e->closed)
				set_error(e, r == 0 ? "the server closed the connection" : "read from the server failed: %s", strerror(errno));
			return NULL;
		}
		e->len += (size_t)r;
	}
}

/* A notification from the server: events.notify is queued; session.closed says why the server is closing. */
static void take_notification(smash_emu *e, json_t *msg)
{
	const char *method = json_string_value(json_object_get(msg, "method"));
	json_t *params = json_object_get(msg, "params");
	if (method != NULL && strcmp(method, "session.closed") == 0) {
		e->closed = 1;
		set_error(e, "the server closed the connection: %s (code %" JSON_INTEGER_FORMAT ")",
			  json_string_value(json_object_get(params, "reason")) ? json_string_value(json_object_get(params, "reason")) : "?",
			  json_integer_value(json_object_get(params, "code")));
		return;
	}
	if (method == NULL || strcmp(method, "events.notify") != 0 || !json_is_object(params))
		return;
	struct event *ev = malloc(sizeof(*ev));
	if (ev == NULL)
		return;
	ev->params = json_incref(params);
	ev->next = NULL;
	if (e->events_tail != NULL)
		e->events_tail->next = ev;
	else
		e->events = ev;
	e->events_tail = ev;
}

static int is_notification(json_t *msg)
{
	return json_is_object(msg) && json_object_get(msg, "method") != NULL && json_object_get(msg, "id") == NULL;
}

/* Reads until the answer (an object, or a batch's array) arrives; notifications meanwhile are queued. */
static json_t *read_answer(smash_emu *e)
{
	for (;;) {
		int timed_out;
		json_t *msg = read_line(e, -1, &timed_out);
		if (msg == NULL)
			return NULL;
		if (!is_notification(msg))
			return msg;
		take_notification(e, msg);
		json_decref(msg);
	}
}

/* The result of one response object, or its error as a return code. */
static int take_response(smash_emu *e, json_t *resp, json_t **result)
{
	json_t *err = json_object_get(resp, "error");
	if (err != NULL) {
		json_int_t code = json_integer_value(json_object_get(err, "code"));
		const char *message = json_string_value(json_object_get(err, "message"));
		/* -32602 names the key and the rule in data.issues: the first one goes in the message. */
		json_t *issue = json_array_get(json_object_get(json_object_get(err, "data"), "issues"), 0);
		const char *why = json_string_value(json_object_get(issue, "message"));
		json_t *path = json_object_get(issue, "path");
		const char *key = json_string_value(json_array_get(path, json_array_size(path) > 0 ? json_array_size(path) - 1 : 0));
		if (why != NULL)
			set_error(e, "%s: %s%s%s", message != NULL ? message : "error", key != NULL ? key : "", key != NULL ? ": " : "", why);
		else
			set_error(e, "%s", message != NULL ? message : "error");
		json_decref(e->error_data);
		e->error_data = json_incref(json_object_get(err, "data"));
		return code == 0 || code == SMASH_EMU_ETRANSPORT ? -32603 : (int)code;
	}
	if (result != NULL)
		*result = json_incref(json_object_get(resp, "result"));
	return 0;
}

static void dispatch_events(smash_emu *e);

int smash_emu_call(smash_emu *e, const char *method, json_t *params, json_t **result)
{
	if (result != NULL)
		*result = NULL;
	long long id = e->next_id++;
	json_t *req = json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", (json_int_t)id, "method", method);
	if (params != NULL)
		json_object_set_new(req, "params", params);
	e->depth++;
	int rc = send_json(e, req);
	json_decref(req);
	if (rc == 0) {
		json_t *resp = read_answer(e);
		if (resp == NULL) {
			rc = SMASH_EMU_ETRANSPORT;
		} else if (json_integer_value(json_object_get(resp, "id")) != id) {
			set_error(e, "the server answered another request (protocol error)");
			rc = SMASH_EMU_ETRANSPORT;
		} else {
			rc = take_response(e, resp, result);
		}
		json_decref(resp);
	}
	e->depth--;
	if (e->depth == 0)
		dispatch_events(e);
	return rc;
}

int smash_emu_callf(smash_emu *e, json_t **result, const char *method, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	json_error_t jerr;
	json_t *params = json_vpack_ex(&jerr, 0, fmt, ap);
	va_end(ap);
	if (params == NULL) {
		set_error(e, "bad params for %s: %s", method, jerr.text);
		return -32602;
	}
	return smash_emu_call(e, method, params, result);
}

int smash_emu_notify(smash_emu *e, const char *method, json_t *params)
{
	json_t *req = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method);
	if (params != NULL)
		json_object_set_new(req, "params", params);
	int rc = send_json(e, req);
	json_decref(req);
	return rc;
}

/*
 * A batch of requests (an array of {method, params}; stolen): answers in order,
 * each result stored in results[i] (new references; NULL for an error). Returns
 * the first error's code, or 0.
 */
static int call_batch(smash_emu *e, json_t *calls, json_t **results)
{
	size_t n = json_array_size(calls);
	if (n == 0) {
		json_decref(calls);
		return 0;
	}
	json_t *batch = json_array();
	long long first = e->next_id;
	size_t i;
	json_t *c;
	json_array_foreach(calls, i, c)
	{
		json_t *req = json_pack("{s:s, s:I, s:O, s:O}", "jsonrpc", "2.0", "id", (json_int_t)e->next_id++, "method",
					json_object_get(c, "method"), "params", json_object_get(c, "params"));
		json_array_append_new(batch, req);
	}
	json_decref(calls);
	e->depth++;
	int rc = send_json(e, batch);
	json_decref(batch);
	if (rc == 0) {
		json_t *resp = read_answer(e);
		if (resp == NULL) {
			rc = SMASH_EMU_ETRANSPORT;
		} else if (!json_is_array(resp) || json_array_size(resp) != n) {
			rc = json_is_object(resp) ? take_response(e, resp, NULL) : SMASH_EMU_ETRANSPORT;
			if (rc == 0) {
				set_error(e, "the server's answer to a batch is not an array of %zu answers", n);
				rc = SMASH_EMU_ETRANSPORT;
			}
		} else {
			json_array_foreach(resp, i, c)
			{
				json_int_t id = json_integer_value(json_object_get(c, "id"));
				size_t at = (size_t)(id - first);
				if (id < first || at >= n) {
					set_error(e, "a batch answer with an unknown id (protocol error)");
					rc = SMASH_EMU_ETRANSPORT;
					break;
				}
				int r = take_response(e, c, results != NULL ? &results[at] : NULL);
				if (r != 0 && rc == 0)
					rc = r;
			}
		}
		json_decref(resp);
	}
	e->depth--;
	if (e->depth == 0)
		dispatch_events(e);
	return rc;
}

int smash_emu_attach(smash_emu *e, const char *platform)
{
	return smash_emu_callf(e, NULL, "session.attach", "{s:s}", "platform", platform);
}

/* ---- subscriptions ------------------------------------------------------------- */

static struct subscription *find_sub(smash_emu *e, const char *id)
{
	for (struct subscription *s = e->subs; s != NULL; s = s->next)
		if (strcmp(s->id, id) == 0)
			return s;
	return NULL;
}

int smash_emu_subscribe(smash_emu *e, const char *const *topics, smash_emu_event_fn fn, void *arg, char *id, size_t id_len)
{
	json_t *list = json_array();
	for (const char *const *t = topics; *t != NULL; t++)
		json_array_append_new(list, json_string(*t));
	json_t *result;
	int rc = smash_emu_call(e, "events.subscribe", json_pack("{s:o}", "topics", list), &result);
	if (rc != 0)
		return rc;
	const char *sid = json_string_value(json_object_get(result, "subscriptionId"));
	struct subscription *s = calloc(1, sizeof(*s));
	if (sid == NULL || s == NULL || strlen(sid) >= sizeof(s->id)) {
		free(s);
		json_decref(result);
		set_error(e, "events.subscribe answered without a usable subscriptionId");
		return SMASH_EMU_ETRANSPORT;
	}
	strcpy(s->id, sid);
	s->fn = fn;
	s->arg = arg;
	s->next = e->subs;
	e->subs = s;
	if (id != NULL && id_len > 0)
		snprintf(id, id_len, "%s", sid);
	json_decref(result);
	/* Notifications the subscription's own answer overtook are dispatched now. */
	if (e->depth == 0)
		dispatch_events(e);
	return 0;
}

int smash_emu_unsubscribe(smash_emu *e, const char *id)
{
	int rc = smash_emu_callf(e, NULL, "events.unsubscribe", "{s:s}", "subscriptionId", id);
	for (struct subscription **p = &e->subs; *p != NULL; p = &(*p)->next) {
		if (strcmp((*p)->id, id) == 0) {
			struct subscription *s = *p;
			*p = s->next;
			free(s);
			break;
		}
	}
	return rc;
}

/* Hands queued events of callback subscriptions to their callbacks, oldest first; the others stay queued. */
static int dispatch_pending(smash_emu *e)
{
	if (e->dispatching)
		return 0;
	e->dispatching = 1;
	int n = 0;
	struct event **p = &e->events;
	while (*p != NULL) {
		struct event *ev = *p;
		const char *sid = json_string_value(json_object_get(ev->params, "subscriptionId"));
		struct subscription *s = sid != NULL ? find_sub(e, sid) : NULL;
		if (s != NULL && s->fn == NULL) {
			p = &ev->next;
			continue;
		}
		/* Unlink first: the callback may call, and calls queue more events. */
		*p = ev->next;
		if (e->events_tail == ev) {
			e->events_tail = NULL;
			for (struct event *t = e->events; t != NULL; t = t->next)
				e->events_tail = t;
		}
		if (s != NULL) {
			s->fn(s->arg, json_string_value(json_object_get(ev->params, "topic")),
			      smash_emu_hex(json_object_get(ev->params, "atNs")), json_object_get(ev->params, "data"));
			n++;
		}
		json_decref(ev->params);
		free(ev);
		p = &e->events; /* the list may have changed under the callback */
	}
	e->dispatching = 0;
	return n;
}

static void dispatch_events(smash_emu *e)
{
	dispatch_pending(e);
}

int smash_emu_dispatch(smash_emu *e)
{
	return dispatch_pending(e);
}

json_t *smash_emu_next_event(smash_emu *e, int timeout_ms)
{
	for (;;) {
		for (struct event **p = &e->events; *p != NULL; p = &(*p)->next) {
			struct event *ev = *p;
			const char *sid = json_string_value(json_object_get(ev->params, "subscriptionId"));
			struct subscription *s = sid != NULL ? find_sub(e, sid) : NULL;
			if (s == NULL || s->fn != NULL)
				continue;
			*p = ev->next;
			if (e->events_tail == ev) {
				e->events_tail = NULL;
				for (struct event *t = e->events; t != NULL; t = t->next)
					e->events_tail = t;
			}
			json_t *params = ev->params;
			free(ev);
			return params;
		}
		if (timeout_ms == 0)
			return NULL;
		int timed_out;
		json_t *msg = read_line(e, timeout_ms, &timed_out);
		if (msg == NULL)
			return NULL;
		if (is_notification(msg))
			take_notification(e, msg);
		json_decref(msg);
		if (e->depth == 0)
			dispatch_pending(e);
	}
}

/* ---- registers ------------------------------------------------------------------ */

static int read_reg(smash_emu *e, const char *method, uint32_t offset, uint32_t *value)
{
	json_t *r;
	int rc = smash_emu_callf(e, &r, method, "{s:I}", "offset", (json_int_t)offset);
	if (rc != 0)
		return rc;
	*value = (uint32_t)json_integer_value(json_object_get(r, "value"));
	json_decref(r);
	return 0;
}

static int write_reg(smash_emu *e, const char *method, uint32_t offset, uint32_t value)
{
	return smash_emu_callf(e, NULL, method, "{s:I, s:I}", "offset", (json_int_t)offset, "value", (json_int_t)value);
}

int smash_emu_tmpm_read(smash_emu *e, uint32_t offset, uint32_t *value)
{
	return read_reg(e, "tmpm.readReg", offset, value);
}

int smash_emu_tmpm_write(smash_emu *e, uint32_t offset, uint32_t value)
{
	return write_reg(e, "tmpm.writeReg", offset, value);
}

int smash_emu_psp_read(smash_emu *e, uint32_t offset, uint32_t *value)
{
	return read_reg(e, "psp.readReg", offset, value);
}

int smash_emu_psp_write(smash_emu *e, uint32_t offset, uint32_t value)
{
	return write_reg(e, "psp.writeReg", offset, value);
}

/* ---- values ---------------------------------------------------------------------- */

uint64_t smash_emu_hex(const json_t *value)
{
	if (json_is_integer(value))
		return (uint64_t)json_integer_value(value);
	const char *s = json_string_value(value);
	if (s == NULL)
		return 0;
	return strtoull(s, NULL, 16);
}

uint64_t smash_emu_hex_field(const json_t *object, const char *key)
{
	return smash_emu_hex(json_object_get(object, key));
}

json_t *smash_emu_hex_json(uint64_t value)
{
	char text[24];
	snprintf(text, sizeof(text), "0x%" PRIx64, value);
	return json_string(text);
}

/* ---- host memory ------------------------------------------------------------------ */

int smash_emu_mem_alloc(smash_emu *e, uint32_t pages, uint64_t *spa)
{
	json_t *r;
	int rc = smash_emu_callf(e, &r, "mem.alloc", "{s:I}", "pages", (json_int_t)pages);
	if (rc != 0)
		return rc;
	*spa = smash_emu_hex_field(r, "spa");
	json_decref(r);
	return 0;
}

int smash_emu_mem_free(smash_emu *e, uint64_t spa, uint32_t pages)
{
	return smash_emu_callf(e, NULL, "mem.free", "{s:o, s:I}", "spa", smash_emu_hex_json(spa), "pages", (json_int_t)pages);
}

static json_t *read_call(uint64_t spa, size_t count)
{
	return json_pack("{s:s, s:{s:o, s:I}}", "method", "mem.read64", "params", "spa", smash_emu_hex_json(spa), "count", (json_int_t)count);
}

static json_t *write_call(uint64_t spa, const uint64_t *values, size_t count)
{
	json_t *list = json_array();
	for (size_t i = 0; i < count; i++)
		json_array_append_new(list, smash_emu_hex_json(values[i]));
	return json_pack("{s:s, s:{s:o, s:o}}", "method", "mem.write64", "params", "spa", smash_emu_hex_json(spa), "values", list);
}

/* Copies the `values` of a mem.read64 result into out. */
static int take_values(smash_emu *e, json_t *result, uint64_t *out, size_t count)
{
	json_t *values = json_object_get(result, "values");
	if (json_array_size(values) != count) {
		set_error(e, "mem.read64 answered %zu words, not %zu", json_array_size(values), count);
		return SMASH_EMU_ETRANSPORT;
	}
	for (size_t i = 0; i < count; i++)
		out[i] = smash_emu_hex(json_array_get(values, i));
	return 0;
}

int smash_emu_mem_read64(smash_emu *e, uint64_t spa, uint64_t *out, size_t count)
{
	for (size_t done = 0; done < count;) {
		size_t n = count - done < WORDS_PER_CALL ? count - done : WORDS_PER_CALL;
		json_t *call = read_call(spa + done * 8, n);
		json_t *r;
		int rc = smash_emu_call(e, "mem.read64", json_incref(json_object_get(call, "params")), &r);
		json_decref(call);
		if (rc != 0)
			return rc;
		rc = take_values(e, r, out + done, n);
		json_decref(r);
		if (rc != 0)
			return rc;
		done += n;
	}
	return 0;
}

int smash_emu_mem_write64(smash_emu *e, uint64_t spa, const uint64_t *values, size_t count)
{
	for (size_t done = 0; done < count;) {
		size_t n = count - done < WORDS_PER_CALL ? count - done : WORDS_PER_CALL;
		json_t *call = write_call(spa + done * 8, values + done, n);
		int rc = smash_emu_call(e, "mem.write64", json_incref(json_object_get(call, "params")), NULL);
		json_decref(call);
		if (rc != 0)
			return rc;
		done += n;
	}
	return 0;
}

/* ---- the page mirror ---------------------------------------------------------------- */

void *smash_emu_mirror_map(smash_emu *e, uint64_t spa, size_t pages)
{
	if (pages == 0 || spa % SMASH_EMU_PAGE_SIZE != 0) {
		set_error(e, "a mirror is whole pages at a 4 KB-aligned SPA");
		return NULL;
	}
	struct mirror *m = calloc(1, sizeof(*m));
	size_t bytes = pages * SMASH_EMU_PAGE_SIZE;
	void *local = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t *shadow = malloc(bytes);
	if (m == NULL || local == MAP_FAILED || shadow == NULL) {
		free(m);
		free(shadow);
		if (local != MAP_FAILED)
			munmap(local, bytes);
		set_error(e, "out of memory for a mirror of %zu pages", pages);
		return NULL;
	}
	m->spa = spa;
	m->pages = pages;
	m->local = local;
	m->shadow = shadow;
	if (smash_emu_mem_read64(e, spa, shadow, pages * WORDS_PER_PAGE) != 0) {
		munmap(local, bytes);
		free(shadow);
		free(m);
		return NULL;
	}
	memcpy(local, shadow, bytes);
	m->next = e->mirrors;
	e->mirrors = m;
	return local;
}

void smash_emu_mirror_unmap(smash_emu *e, void *local)
{
	for (struct mirror **p = &e->mirrors; *p != NULL; p = &(*p)->next) {
		struct mirror *m = *p;
		if ((void *)m->local != local)
			continue;
		*p = m->next;
		munmap(m->local, m->pages * SMASH_EMU_PAGE_SIZE);
		free(m->shadow);
		free(m);
		return;
	}
}

static struct mirror *mirror_of_local(const smash_emu *e, const void *local)
{
	const char *p = local;
	for (struct mirror *m = e->mirrors; m != NULL; m = m->next) {
		const char *base = (const char *)m->local;
		if (p >= base && p < base + m->pages * SMASH_EMU_PAGE_SIZE)
			return m;
	}
	return NULL;
}

uint64_t smash_emu_mirror_spa(const smash_emu *e, const void *local)
{
	struct mirror *m = mirror_of_local(e, local);
	if (m == NULL)
		return UINT64_MAX;
	return m->spa + (uint64_t)((const char *)local - (const char *)m->local);
}

void *smash_emu_mirror_local(const smash_emu *e, uint64_t spa)
{
	for (struct mirror *m = e->mirrors; m != NULL; m = m->next)
		if (spa >= m->spa && spa < m->spa + m->pages * SMASH_EMU_PAGE_SIZE)
			return (char *)m->local + (spa - m->spa);
	return NULL;
}

/* Appends a mem.write64 for each run of words changed locally, and marks them synced. */
static void push_calls(smash_emu *e, json_t *calls)
{
	for (struct mirror *m = e->mirrors; m != NULL; m = m->next) {
		size_t words = m->pages * WORDS_PER_PAGE;
		for (size_t i = 0; i < words;) {
			if (m->local[i] == m->shadow[i]) {
				i++;
				continue;
			}
			size_t start = i;
			while (i < words && m->local[i] != m->shadow[i] && i - start < WORDS_PER_CALL)
				i++;
			json_array_append_new(calls, write_call(m->spa + start * 8, m->local + start, i - start));
			memcpy(m->shadow + start, m->local + start, (i - start) * 8);
		}
	}
}

static int pull_calls(smash_emu *e, json_t *calls)
{
	int n = 0;
	for (struct mirror *m = e->mirrors; m != NULL; m = m->next) {
		size_t words = m->pages * WORDS_PER_PAGE;
		for (size_t done = 0; done < words; done += WORDS_PER_CALL, n++)
			json_array_append_new(calls, read_call(m->spa + done * 8, words - done < WORDS_PER_CALL ? words - done : WORDS_PER_CALL));
	}
	return n;
}

static int mirror_sync(smash_emu *e, int push, int pull)
{
	json_t *calls = json_array();
	if (push)
		push_calls(e, calls);
	size_t writes = json_array_size(calls);
	if (pull)
		pull_calls(e, calls);
	size_t n = json_array_size(calls);
	if (n == 0) {
		json_decref(calls);
		return 0;
	}
	json_t **results = calloc(n, sizeof(json_t *));
	if (results == NULL) {
		json_decref(calls);
		set_error(e, "out of memory");
		return SMASH_EMU_ETRANSPORT;
	}
	int rc = call_batch(e, calls, results);
	if (rc == 0 && pull) {
		size_t at = writes;
		for (struct mirror *m = e->mirrors; m != NULL && rc == 0; m = m->next) {
			size_t words = m->pages * WORDS_PER_PAGE;
			for (size_t done = 0; done < words && rc == 0; done += WORDS_PER_CALL, at++) {
				size_t count = words - done < WORDS_PER_CALL ? words - done : WORDS_PER_CALL;
				rc = take_values(e, results[at], m->shadow + done, count);
			}
			/* What the device wrote replaces the local copy; words written locally were pushed first. */
			if (rc == 0)
				memcpy(m->local, m->shadow, words * 8);
		}
	}
	for (size_t i = 0; i < n; i++)
		json_decref(results[i]);
	free(results);
	return rc;
}

int smash_emu_mirror_push(smash_emu *e)
{
	return mirror_sync(e, 1, 0);
}

int smash_emu_mirror_pull(smash_emu *e)
{
	return mirror_sync(e, 0, 1);
}

int smash_emu_mirror_sync(smash_emu *e)
{
	return mirror_sync(e, 1, 1);
}

/* ---- time ----------------------------------------------------------------------------- */

int smash_emu_clock_now(smash_emu *e, uint64_t *now_ns)
{
	json_t *r;
	int rc = smash_emu_call(e, "clock.now", NULL, &r);
	if (rc != 0)
		return rc;
	*now_ns = smash_emu_hex_field(r, "nowNs");
	json_decref(r);
	return 0;
}

int smash_emu_clock_advance(smash_emu *e, uint64_t ns, uint64_t *now_ns)
{
	json_t *r;
	int rc = smash_emu_callf(e, &r, "clock.advance", "{s:I}", "ns", (json_int_t)ns);
	if (rc != 0)
		return rc;
	if (now_ns != NULL)
		*now_ns = smash_emu_hex_field(r, "nowNs");
	json_decref(r);
	return 0;
}
