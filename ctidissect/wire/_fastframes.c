/* Optional C accelerator of the capture decoder: frames and decodes the *clean* messages
 * of a reassembled CTI byte stream.
 *
 * The pure-Python decoder (decode.py, capture/stream.py) is the reference and handles
 * everything; this module only takes the common case off its hands.  A message is clean
 * when its type has a plain compiled plan for the version (known layout, no alternative
 * layout), its body holds the whole fixed part, and every floating field is one of:
 *   - a STRING of 1..max bytes whose only NUL is its last byte,
 *   - a UINT/TIME/INT (4 bytes), USHORT/SHORT (2) or UCHAR (1) of exactly that size,
 *   - RAW/UNSPEC data within the tag's maximum size,
 * with every tag/length inside the message.  Such a message decodes without any anomaly,
 * and this code builds exactly the Message record decode.decode_message builds for it.
 * At the first message that is not clean (or not complete, or an OPEN_REQ the caller wants
 * to see, or above the version's maximum length) it stops and returns its offset: the
 * Python loop then deals with that message in full and calls back.
 *
 * Records are built the way the Python classes would build them, but without running
 * their Python-level constructors: Message is a slots dataclass whose slots are filled at
 * the offsets of its member descriptors, FloatItem a tuple subclass allocated with three
 * items.  configure() checks both shapes and refuses anything else, so a change of the
 * record classes makes the Python side fall back instead of crashing.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <string.h>

/* The floating data kinds this module decodes.  The tag plan uses decode.py's K_*
 * numbers; configure() maps them onto these by name (KIND_NAMES), so no number is written
 * twice. */
enum { K_STRING, K_RAW, K_UINT, K_INT, K_USHORT, K_SHORT, K_UCHAR, K_COUNT, K_OTHER = K_COUNT };
static const char *const KIND_NAMES[K_COUNT] = {"K_STRING", "K_RAW", "K_UINT", "K_INT", "K_USHORT", "K_SHORT",
                                                "K_UCHAR"};

#define MAX_TAG 1024 /* tags at or above this are not in the catalogue: never clean */

/* Protocol facts, given by configure() from the catalogue (see fastframes._constants). */
static Py_ssize_t HEADER_SIZE = 8;
static uint32_t OPEN_REQ = 0;
static long WIDE_FLOATING_SINCE = 0;
static long long sweep_mask = 0; /* engine.SWEEP_FRAME_MASK, from configure_packets() */
#define MAX_LINKTYPE 512
/* packets.INLINE_IPV4_LINKS, from configure_packets(): offset of the IPv4 header and of the
 * ethertype (-1: IP-only link) per link type; link_ip -1: not taken by the C loop. */
static int link_ip[MAX_LINKTYPE], link_et[MAX_LINKTYPE];
#define MAX_VLAN_TYPES 8
static unsigned vlan_types[MAX_VLAN_TYPES]; /* packets.VLAN_ETHERTYPES, from configure_packets() */
static int n_vlan_types = 0;

static inline int is_vlan(unsigned ethertype) {
    for (int i = 0; i < n_vlan_types; i++)
        if (vlan_types[i] == ethertype)
            return 1;
    return 0;
}

typedef struct {
    PyObject *name; /* NULL: tag unknown here, the message is not clean */
    int kind;
    Py_ssize_t maxlen;
} TagEntry;

enum {
    M_TYPE, M_NAME, M_FIELDS, M_FLOATING, M_ANOMALIES, M_RAW, M_VERSION,
    M_FRAME, M_TS, M_CONN, M_DIRECTION, M_EXTRA, M_COUNT
};
static const char *const MESSAGE_SLOTS[M_COUNT] = {
    "type", "name", "fields", "floating", "anomalies", "raw", "version",
    "frame", "ts", "conn", "direction", "extra",
};

static PyTypeObject *message_type = NULL;
static PyTypeObject *float_item_type = NULL;
static Py_ssize_t message_offsets[M_COUNT];
static TagEntry tag_table[MAX_TAG];
static PyObject *str_version_source = NULL;

static inline uint32_t be32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint16_t be16(const unsigned char *p) {
    return (uint16_t)((p[0] << 8) | p[1]);
}

static int slot_offset(PyTypeObject *tp, const char *name, Py_ssize_t *out) {
    PyObject *descr = PyObject_GetAttrString((PyObject *)tp, name);
    if (descr == NULL)
        return -1;
    int ok = Py_IS_TYPE(descr, &PyMemberDescr_Type)
        && ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX
        && !(((PyMemberDescrObject *)descr)->d_member->flags & READONLY);
    if (ok)
        *out = ((PyMemberDescrObject *)descr)->d_member->offset;
    Py_DECREF(descr);
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s.%s is not a writable object slot", tp->tp_name, name);
        return -1;
    }
    return 0;
}

static void clear_tags(void) {
    for (int i = 0; i < MAX_TAG; i++)
        Py_CLEAR(tag_table[i].name);
}

static int constant(PyObject *constants, const char *name, long long *out) {
    PyObject *v = PyDict_GetItemString(constants, name); /* borrowed */
    if (v == NULL) {
        PyErr_Format(PyExc_KeyError, "configure(): constant %s missing", name);
        return -1;
    }
    *out = PyLong_AsLongLong(v);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* configure(message_cls, float_item_cls, tag_plan, constants) - tag_plan: {tag: (name, kind,
 * maxlen)}; constants: HEADER_SIZE, WIDE_FLOATING_SINCE, OPEN_REQ and the K_* kind numbers. */
static PyObject *configure(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *mcls, *fcls, *plan, *constants;
    if (!PyArg_ParseTuple(args, "O!O!O!O!", &PyType_Type, &mcls, &PyType_Type, &fcls, &PyDict_Type, &plan,
                          &PyDict_Type, &constants))
        return NULL;
    long long header, wide_since, open_req, kind_numbers[K_COUNT];
    if (constant(constants, "HEADER_SIZE", &header) < 0 || constant(constants, "WIDE_FLOATING_SINCE", &wide_since) < 0
        || constant(constants, "OPEN_REQ", &open_req) < 0)
        return NULL;
    for (int k = 0; k < K_COUNT; k++)
        if (constant(constants, KIND_NAMES[k], &kind_numbers[k]) < 0)
            return NULL;
    PyTypeObject *mt = (PyTypeObject *)mcls, *ft = (PyTypeObject *)fcls;
    if (!PyType_IsSubtype(ft, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "the floating item class must be a tuple subclass");
        return NULL;
    }
    if (mt->tp_itemsize != 0 || mt->tp_dictoffset != 0) {
        PyErr_SetString(PyExc_TypeError, "the message class must be a slots class without __dict__");
        return NULL;
    }
    Py_ssize_t offsets[M_COUNT];
    for (int i = 0; i < M_COUNT; i++)
        if (slot_offset(mt, MESSAGE_SLOTS[i], &offsets[i]) < 0)
            return NULL;
    clear_tags();
    PyObject *key, *value;
    Py_ssize_t it = 0;
    while (PyDict_Next(plan, &it, &key, &value)) {
        long tag = PyLong_AsLong(key);
        if (tag == -1 && PyErr_Occurred())
            return NULL;
        if (tag < 0 || tag >= MAX_TAG)
            continue;
        PyObject *name;
        long long python_kind;
        Py_ssize_t maxlen;
        if (!PyArg_ParseTuple(value, "ULn", &name, &python_kind, &maxlen))
            return NULL;
        int kind = K_OTHER;
        for (int k = 0; k < K_COUNT; k++)
            if (kind_numbers[k] == python_kind)
                kind = k;
        if (kind == K_OTHER)
            continue; /* compound kinds (named variables, lists) always go to Python */
        Py_INCREF(name);
        tag_table[tag].name = name;
        tag_table[tag].kind = kind;
        tag_table[tag].maxlen = maxlen;
    }
    memcpy(message_offsets, offsets, sizeof offsets);
    HEADER_SIZE = (Py_ssize_t)header;
    WIDE_FLOATING_SINCE = (long)wide_since;
    OPEN_REQ = (uint32_t)open_req;
    Py_INCREF(mt);
    Py_XSETREF(message_type, mt);
    Py_INCREF(ft);
    Py_XSETREF(float_item_type, ft);
    Py_RETURN_NONE;
}

static inline void set_slot(PyObject *obj, int slot, PyObject *value) {
    /* steals value; the slot of a fresh object is NULL */
    *(PyObject **)((char *)obj + message_offsets[slot]) = value;
}

static PyObject *float_item(Py_ssize_t tag, PyObject *name, PyObject *value) {
    /* steals value */
    if (value == NULL)
        return NULL;
    PyObject *item = float_item_type->tp_alloc(float_item_type, 3);
    if (item == NULL) {
        Py_DECREF(value);
        return NULL;
    }
    PyObject *tag_obj = PyLong_FromSsize_t(tag);
    if (tag_obj == NULL) {
        Py_DECREF(value);
        Py_DECREF(item);
        return NULL;
    }
    Py_INCREF(name);
    PyTuple_SET_ITEM(item, 0, tag_obj);
    PyTuple_SET_ITEM(item, 1, name);
    PyTuple_SET_ITEM(item, 2, value);
    return item;
}

/* Floating part of buf[pos:end] into a new list.  Returns 1 (clean, *out set), 0 (not
 * clean: let Python decode the message) or -1 (Python error). */
static int decode_floating(const unsigned char *buf, Py_ssize_t pos, Py_ssize_t end, int wide, PyObject **out) {
    PyObject *items = PyList_New(0);
    if (items == NULL)
        return -1;
    const Py_ssize_t head = wide ? 4 : 2;
    while (pos < end) {
        if (end - pos < head)
            goto unclean;
        Py_ssize_t tag, ln;
        if (wide) {
            tag = be16(buf + pos);
            ln = be16(buf + pos + 2);
        } else {
            tag = buf[pos];
            ln = buf[pos + 1];
        }
        const unsigned char *data = buf + pos + head;
        Py_ssize_t nxt = pos + head + ln;
        if (nxt > end || tag >= MAX_TAG)
            goto unclean;
        const TagEntry *t = &tag_table[tag];
        if (t->name == NULL || ln > t->maxlen)
            goto unclean;
        PyObject *value;
        switch (t->kind) {
        case K_STRING:
            if (ln == 0 || data[ln - 1] != 0 || memchr(data, 0, (size_t)(ln - 1)) != NULL)
                goto unclean;
            /* Strict UTF-8 and surrogateescape agree on valid UTF-8, and the Python
             * decoder falls back to surrogateescape on anything else. */
            value = PyUnicode_DecodeUTF8((const char *)data, ln - 1, "surrogateescape");
            break;
        case K_RAW:
            value = PyBytes_FromStringAndSize((const char *)data, ln);
            break;
        case K_UINT:
            if (ln != 4)
                goto unclean;
            value = PyLong_FromUnsignedLong(be32(data));
            break;
        case K_INT:
            if (ln != 4)
                goto unclean;
            value = PyLong_FromLong((int32_t)be32(data));
            break;
        case K_USHORT:
            if (ln != 2)
                goto unclean;
            value = PyLong_FromLong(be16(data));
            break;
        case K_SHORT:
            if (ln != 2)
                goto unclean;
            value = PyLong_FromLong((int16_t)be16(data));
            break;
        case K_UCHAR:
            if (ln != 1)
                goto unclean;
            value = PyLong_FromLong(data[0]);
            break;
        default:
            goto unclean;
        }
        PyObject *item = float_item(tag, t->name, value);
        if (item == NULL || PyList_Append(items, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(items);
            return -1;
        }
        Py_DECREF(item);
        pos = nxt;
    }
    *out = items;
    return 1;
unclean:
    Py_DECREF(items);
    return 0;
}

/* Fixed fields per the struct codes of the plan ("I", "i", "H", "h", "B", "b"). */
static PyObject *decode_fixed(const unsigned char *p, PyObject *names, const char *codes, Py_ssize_t n) {
    PyObject *fields = PyDict_New();
    if (fields == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v;
        switch (codes[i]) {
        case 'I': v = PyLong_FromUnsignedLong(be32(p)); p += 4; break;
        case 'i': v = PyLong_FromLong((int32_t)be32(p)); p += 4; break;
        case 'H': v = PyLong_FromLong(be16(p)); p += 2; break;
        case 'h': v = PyLong_FromLong((int16_t)be16(p)); p += 2; break;
        case 'B': v = PyLong_FromLong(p[0]); p += 1; break;
        case 'b': v = PyLong_FromLong((signed char)p[0]); p += 1; break;
        default:
            PyErr_Format(PyExc_ValueError, "unknown fixed field code %c", codes[i]);
            v = NULL;
        }
        if (v == NULL || PyDict_SetItem(fields, PyTuple_GET_ITEM(names, i), v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(fields);
            return NULL;
        }
        Py_DECREF(v);
    }
    return fields;
}

/* frame_clean(data, pos, context, frame, ts, out) -> (pos, count, need_more)
 *
 * Decode the clean complete messages of data[pos:] and append their Message records to
 * out.  context: (version, max_body, plans, conn, direction, version_source,
 * stop_at_open_req), the per-direction constants of a CtiStream; plans: {message type:
 * (name, field names, unpack_from, fixed size, struct codes as bytes)} for the version
 * (decode.simple_plans(version)).  Stops at the first message that is incomplete (then
 * need_more is True), longer than max_body, not in plans, not clean, or (stop_at_open_req)
 * an OPEN_REQ; returns its offset and the number of records appended. */
static int context_ok(PyObject *ctx) {
    return PyTuple_Check(ctx) && PyTuple_GET_SIZE(ctx) == 7 && PyDict_Check(PyTuple_GET_ITEM(ctx, 2));
}

/* The loop of frame_clean: data must be bytes, ctx pass context_ok, out a list.  Sets
 * *pos_io, *count, *need_more; returns 0, or -1 on a Python error. */
static int frame_clean_core(PyObject *data, Py_ssize_t *pos_io, PyObject *ctx, PyObject *frame, PyObject *ts,
                            PyObject *out, Py_ssize_t *count_out, int *need_more_out) {
    Py_ssize_t pos = *pos_io;
    PyObject *version_obj = PyTuple_GET_ITEM(ctx, 0);
    long version = PyLong_AsLong(version_obj);
    Py_ssize_t max_body = PyLong_AsSsize_t(PyTuple_GET_ITEM(ctx, 1));
    if (PyErr_Occurred())
        return -1;
    PyObject *plans = PyTuple_GET_ITEM(ctx, 2), *conn = PyTuple_GET_ITEM(ctx, 3);
    PyObject *direction = PyTuple_GET_ITEM(ctx, 4), *source = PyTuple_GET_ITEM(ctx, 5);
    int stop_open = PyObject_IsTrue(PyTuple_GET_ITEM(ctx, 6));
    if (stop_open < 0)
        return -1;
    const unsigned char *buf = (const unsigned char *)PyBytes_AS_STRING(data);
    const Py_ssize_t n = PyBytes_GET_SIZE(data);
    const int wide = version >= WIDE_FLOATING_SINCE;
    Py_ssize_t count = 0;
    int need_more = 1;

    while (n - pos >= HEADER_SIZE) {
        uint32_t length = be32(buf + pos), mtype = be32(buf + pos + 4);
        need_more = 0;
        if ((Py_ssize_t)length > max_body)
            break;
        if ((Py_ssize_t)length > n - pos - HEADER_SIZE) {
            need_more = 1;
            break;
        }
        if (mtype == OPEN_REQ && stop_open)
            break;
        PyObject *type_obj = PyLong_FromUnsignedLong(mtype);
        if (type_obj == NULL)
            return -1;
        PyObject *plan = PyDict_GetItemWithError(plans, type_obj); /* borrowed */
        if (plan == NULL) {
            Py_DECREF(type_obj);
            if (PyErr_Occurred())
                return -1;
            break;
        }
        if (!PyTuple_Check(plan) || PyTuple_GET_SIZE(plan) != 5 || !PyTuple_Check(PyTuple_GET_ITEM(plan, 1))
            || !PyBytes_Check(PyTuple_GET_ITEM(plan, 4))) {
            Py_DECREF(type_obj);
            PyErr_SetString(PyExc_TypeError, "frame_clean(): a plan must be (name, names, unpack, size, codes)");
            return -1;
        }
        PyObject *names = PyTuple_GET_ITEM(plan, 1), *codes = PyTuple_GET_ITEM(plan, 4);
        Py_ssize_t size = PyLong_AsSsize_t(PyTuple_GET_ITEM(plan, 3));
        Py_ssize_t nfields = PyTuple_GET_SIZE(names);
        if (size == -1 && PyErr_Occurred()) {
            Py_DECREF(type_obj);
            return -1;
        }
        if (size < 0 || size > (Py_ssize_t)length || PyBytes_GET_SIZE(codes) != nfields) {
            Py_DECREF(type_obj);
            break;
        }
        const Py_ssize_t body = pos + HEADER_SIZE, end = body + length;
        PyObject *floating = NULL;
        if (size == (Py_ssize_t)length)
            floating = PyList_New(0);
        else {
            int r = decode_floating(buf, body + size, end, wide, &floating);
            if (r <= 0) {
                Py_DECREF(type_obj);
                if (r < 0)
                    return -1;
                break;
            }
        }
        PyObject *fields = floating ? decode_fixed(buf + body, names, PyBytes_AS_STRING(codes), nfields) : NULL;
        PyObject *anomalies = fields ? PyList_New(0) : NULL;
        PyObject *raw = anomalies ? PyBytes_FromStringAndSize((const char *)buf + pos, end - pos) : NULL;
        PyObject *extra = raw ? PyDict_New() : NULL;
        PyObject *msg = NULL;
        if (extra != NULL && PyDict_SetItem(extra, str_version_source, source) == 0)
            msg = message_type->tp_alloc(message_type, 0);
        if (msg == NULL) {
            Py_DECREF(type_obj);
            Py_XDECREF(floating);
            Py_XDECREF(fields);
            Py_XDECREF(anomalies);
            Py_XDECREF(raw);
            Py_XDECREF(extra);
            return -1;
        }
        PyObject *name = PyTuple_GET_ITEM(plan, 0);
        Py_INCREF(name);
        Py_INCREF(version_obj);
        Py_INCREF(frame);
        Py_INCREF(ts);
        Py_INCREF(conn);
        Py_INCREF(direction);
        set_slot(msg, M_TYPE, type_obj);
        set_slot(msg, M_NAME, name);
        set_slot(msg, M_FIELDS, fields);
        set_slot(msg, M_FLOATING, floating);
        set_slot(msg, M_ANOMALIES, anomalies);
        set_slot(msg, M_RAW, raw);
        set_slot(msg, M_VERSION, version_obj);
        set_slot(msg, M_FRAME, frame);
        set_slot(msg, M_TS, ts);
        set_slot(msg, M_CONN, conn);
        set_slot(msg, M_DIRECTION, direction);
        set_slot(msg, M_EXTRA, extra);
        int failed = PyList_Append(out, msg);
        Py_DECREF(msg);
        if (failed)
            return -1;
        count++;
        pos = end;
        need_more = 1;
    }
    *pos_io = pos;
    *count_out = count;
    *need_more_out = need_more;
    return 0;
}

static PyObject *frame_clean(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "frame_clean() takes 6 arguments");
        return NULL;
    }
    if (message_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "frame_clean() called before configure()");
        return NULL;
    }
    if (!PyBytes_Check(args[0]) || !context_ok(args[2]) || !PyList_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError,
                        "frame_clean(): data must be bytes, context a 7-tuple with a plans dict, out a list");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]), count;
    int need_more;
    if (pos == -1 && PyErr_Occurred())
        return NULL;
    if (pos < 0)
        pos = 0;
    if (frame_clean_core(args[0], &pos, args[2], args[3], args[4], args[5], &count, &need_more) < 0)
        return NULL;
    return Py_BuildValue("(nnO)", pos, count, need_more ? Py_True : Py_False);
}


/* ---------------------------------------------------------------------------------------
 * The packet loop of a pcap or pcapng file (walk_pcap, walk_pcapng).
 *
 * It mirrors the inline fast path of CaptureDecoder.decode_frames (capture/engine.py) and
 * takes only the packets that path would finish itself:
 *   - a frame of a flow that is not CTI (no flow entry, neither port a server port, no
 *     --detect): skipped, exactly as Python's `continue`;
 *   - a segment without SYN/FIN/RST of a known HalfStream that arrives in order on an
 *     anchored, unfinished direction with nothing held in either direction, whose sink is a
 *     CtiStream with a decided version that is not hunting: the HalfStream.data fast path
 *     and CtiStream.push, with frame_clean for the messages.
 * Anything else - any other link/network layer, a new flow, every 8192nd frame (the
 * engine's sweep), a record that is truncated or corrupt - stops the walk, and the Python
 * engine handles that record exactly as it would have without this module.
 * --------------------------------------------------------------------------------------- */

enum { H_SINK, H_ANCHORED, H_FINISHED, H_PENDING, H_FIN_ABS, H_NEXT_MOD, H_NEXT_ABS, H_LAST_FRAME, H_LAST_TS,
       H_RECENT, H_PEER, H_COUNT };
static const char *const HALF_SLOTS[H_COUNT] = {
    "sink", "anchored", "finished", "pending", "fin_abs", "next_mod", "next_abs", "last_frame", "last_ts",
    "recent", "peer",
};
enum { S_TAIL, S_HUNTING, S_FAST, S_COUNT };
static const char *const STREAM_SLOTS[S_COUNT] = {"tail", "hunting", "fast"};
enum { O_OUT, O_QUEUE, O_UNREADY, O_SLOTTED, O_COUNT };
static const char *const OUTPUT_SLOTS[O_COUNT] = {"out", "queue", "unready", "slotted"};

static PyTypeObject *half_type = NULL, *stream_type = NULL, *output_type = NULL;
static Py_ssize_t half_offsets[H_COUNT], stream_offsets[S_COUNT], output_offsets[O_COUNT];
static Py_ssize_t history = 0;    /* tcp.HISTORY: bytes of delivered stream kept */
static Py_ssize_t max_record = 0; /* pcapfile.MAX_RECORD: a larger record is corrupt */
static PyObject *str_take = NULL;

#define SLOT(obj, offsets, i) (*(PyObject **)((char *)(obj) + (offsets)[i]))

static inline void replace_slot(PyObject *obj, const Py_ssize_t *offsets, int i, PyObject *value) {
    /* steals value */
    PyObject **p = (PyObject **)((char *)obj + offsets[i]);
    PyObject *old = *p;
    *p = value;
    Py_XDECREF(old);
}

static int offsets_of(PyTypeObject *tp, const char *const *names, int n, Py_ssize_t *out) {
    if (tp->tp_dictoffset != 0) {
        PyErr_Format(PyExc_TypeError, "%s must be a slots class without __dict__", tp->tp_name);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (slot_offset(tp, names[i], &out[i]) < 0)
            return -1;
    return 0;
}

/* configure_packets(HalfStream, CtiStream, OrderedOutput, history, max_record, sweep_mask, inline_links,
 *                   vlan_ethertypes) */
static PyObject *configure_packets(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *h, *st, *o;
    Py_ssize_t hist, maxrec;
    long long mask;
    PyObject *links, *vlans;
    if (!PyArg_ParseTuple(args, "O!O!O!nnLO!O", &PyType_Type, &h, &PyType_Type, &st, &PyType_Type, &o, &hist,
                          &maxrec, &mask, &PyDict_Type, &links, &vlans))
        return NULL;
    unsigned vt[MAX_VLAN_TYPES];
    int nvt = 0;
    PyObject *iter = PyObject_GetIter(vlans), *item;
    if (iter == NULL)
        return NULL;
    while ((item = PyIter_Next(iter)) != NULL) {
        long v = PyLong_AsLong(item);
        Py_DECREF(item);
        if (v == -1 && PyErr_Occurred())
            break;
        if (nvt == MAX_VLAN_TYPES || v < 0 || v > 0xFFFF) {
            PyErr_SetString(PyExc_ValueError, "vlan_ethertypes: at most 8 16-bit ethertypes");
            break;
        }
        vt[nvt++] = (unsigned)v;
    }
    Py_DECREF(iter);
    if (PyErr_Occurred())
        return NULL;
    int ips[MAX_LINKTYPE], ets[MAX_LINKTYPE];
    for (int i = 0; i < MAX_LINKTYPE; i++)
        ips[i] = ets[i] = -1;
    PyObject *key, *value;
    Py_ssize_t it = 0;
    while (PyDict_Next(links, &it, &key, &value)) {
        long linktype = PyLong_AsLong(key);
        int ip, et;
        if ((linktype == -1 && PyErr_Occurred()) || !PyArg_ParseTuple(value, "ii", &ip, &et))
            return NULL;
        if (linktype < 0 || linktype >= MAX_LINKTYPE || ip < 0 || ip > 64 || (et != -1 && (et < 0 || et > ip - 2))) {
            PyErr_Format(PyExc_ValueError, "inline link %ld: bad offsets (%d, %d)", linktype, ip, et);
            return NULL;
        }
        ips[linktype] = ip;
        ets[linktype] = et;
    }
    Py_ssize_t ho[H_COUNT], so[S_COUNT], oo[O_COUNT];
    if (offsets_of((PyTypeObject *)h, HALF_SLOTS, H_COUNT, ho) < 0
        || offsets_of((PyTypeObject *)st, STREAM_SLOTS, S_COUNT, so) < 0
        || offsets_of((PyTypeObject *)o, OUTPUT_SLOTS, O_COUNT, oo) < 0)
        return NULL;
    if (hist <= 0 || maxrec <= 0) {
        PyErr_SetString(PyExc_ValueError, "history and max_record must be positive");
        return NULL;
    }
    memcpy(half_offsets, ho, sizeof ho);
    memcpy(stream_offsets, so, sizeof so);
    memcpy(output_offsets, oo, sizeof oo);
    history = hist;
    max_record = maxrec;
    sweep_mask = mask;
    memcpy(link_ip, ips, sizeof ips);
    memcpy(link_et, ets, sizeof ets);
    memcpy(vlan_types, vt, sizeof vt);
    n_vlan_types = nvt;
    Py_INCREF(h);
    Py_XSETREF(half_type, (PyTypeObject *)h);
    Py_INCREF(st);
    Py_XSETREF(stream_type, (PyTypeObject *)st);
    Py_INCREF(o);
    Py_XSETREF(output_type, (PyTypeObject *)o);
    Py_RETURN_NONE;
}

enum { WALK_BATCH = 0, WALK_PYTHON = 1, WALK_END = 2 };
enum { DONE = 0, DEFER = 1, FAILED = -1 };

static inline uint32_t rd32(const unsigned char *p, int big) {
    return big ? be32(p) : ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

/* recent += payload, keeping the last `history` bytes once it passes 2 * history */
static int remember(PyObject *recent, const unsigned char *p, Py_ssize_t n) {
    Py_ssize_t old = PyByteArray_GET_SIZE(recent);
    if (PyByteArray_Resize(recent, old + n) < 0)
        return -1;
    memcpy(PyByteArray_AS_STRING(recent) + old, p, (size_t)n);
    Py_ssize_t size = old + n;
    if (size > 2 * history) {
        char *b = PyByteArray_AS_STRING(recent);
        memmove(b, b + (size - history), (size_t)history);
        if (PyByteArray_Resize(recent, history) < 0)
            return -1;
    }
    return 0;
}

/* Move what the packet produced from output.out to batch (the engine's per-packet step). */
static int collect_output(PyObject *output, PyObject *batch) {
    PyObject *out = SLOT(output, output_offsets, O_OUT);
    if (out == NULL || !PyList_Check(out)) {
        PyErr_SetString(PyExc_TypeError, "OrderedOutput.out is not a list");
        return -1;
    }
    Py_ssize_t n = PyList_GET_SIZE(out);
    if (n == 0)
        return 0;
    PyObject *unready = SLOT(output, output_offsets, O_UNREADY), *queue = SLOT(output, output_offsets, O_QUEUE);
    PyObject *slotted = SLOT(output, output_offsets, O_SLOTTED);
    if (unready == NULL || queue == NULL)
        return PyErr_SetString(PyExc_TypeError, "OrderedOutput is not initialised"), -1;
    int unready_true = PyObject_IsTrue(unready);
    if (unready_true < 0)
        return -1;
    int simple = !unready_true && slotted == Py_False;
    if (simple) {
        Py_ssize_t qlen = PyObject_Length(queue);
        if (qlen < 0)
            return -1;
        simple = qlen == 0;
    }
    if (simple) {
        if (PyList_SetSlice(batch, PY_SSIZE_T_MAX, PY_SSIZE_T_MAX, out) < 0)
            return -1;
        return PyList_SetSlice(out, 0, n, NULL);
    }
    PyObject *ready = PyObject_CallMethodNoArgs(output, str_take);
    if (ready == NULL)
        return -1;
    int r = PyList_SetSlice(batch, PY_SSIZE_T_MAX, PY_SSIZE_T_MAX, ready);
    Py_DECREF(ready);
    return r;
}

typedef struct {
    Py_ssize_t cti_packets, messages, bytes_decoded;
} WalkCounts;

/* One in-order segment of a known HalfStream (checked to be fast-path material first).
 * Returns DONE, DEFER (nothing changed: Python must take the packet) or FAILED. */
static int in_order_segment(PyObject *hs, uint32_t seq, int ack, const unsigned char *payload, Py_ssize_t n,
                            PyObject *frame_obj, long long frame, double ts, PyObject *output, PyObject *batch,
                            WalkCounts *counts) {
    PyObject *peer = SLOT(hs, half_offsets, H_PEER);
    if (ack) {
        if (peer == NULL || Py_TYPE(peer) != half_type)
            return DEFER;
        PyObject *peer_pending = SLOT(peer, half_offsets, H_PENDING);
        if (peer_pending == NULL || !PyDict_CheckExact(peer_pending) || PyDict_GET_SIZE(peer_pending))
            return DEFER; /* the acknowledgement may close a hole: on_ack in Python */
    }
    if (n == 0) {
        counts->cti_packets++;
        return DONE;
    }
    PyObject *pending = SLOT(hs, half_offsets, H_PENDING), *next_mod = SLOT(hs, half_offsets, H_NEXT_MOD);
    PyObject *next_abs = SLOT(hs, half_offsets, H_NEXT_ABS), *recent = SLOT(hs, half_offsets, H_RECENT);
    PyObject *sink = SLOT(hs, half_offsets, H_SINK);
    if (SLOT(hs, half_offsets, H_ANCHORED) != Py_True || SLOT(hs, half_offsets, H_FINISHED) != Py_False
        || SLOT(hs, half_offsets, H_FIN_ABS) != Py_None || pending == NULL || !PyDict_CheckExact(pending)
        || PyDict_GET_SIZE(pending) || next_mod == NULL || !PyLong_CheckExact(next_mod) || next_abs == NULL
        || !PyLong_CheckExact(next_abs) || recent == NULL || !PyByteArray_CheckExact(recent) || sink == NULL
        || Py_TYPE(sink) != stream_type)
        return DEFER;
    unsigned long expected = PyLong_AsUnsignedLong(next_mod);
    if (expected == (unsigned long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return DEFER;
    }
    if (expected != seq)
        return DEFER;
    PyObject *tail = SLOT(sink, stream_offsets, S_TAIL), *ctx = SLOT(sink, stream_offsets, S_FAST);
    if (SLOT(sink, stream_offsets, S_HUNTING) != Py_False || tail == NULL || !PyBytes_CheckExact(tail) || ctx == NULL
        || !context_ok(ctx))
        return DEFER;
    long long abs_before = PyLong_AsLongLong(next_abs);
    if (abs_before == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return DEFER;
    }
    /* From here on the packet is ours: HalfStream.data's fast path ... */
    counts->cti_packets++;
    PyObject *ts_obj = PyFloat_FromDouble(ts);
    PyObject *new_mod = PyLong_FromUnsignedLong((seq + (uint32_t)n) & 0xFFFFFFFFu);
    PyObject *new_abs = PyLong_FromLongLong(abs_before + n);
    if (ts_obj == NULL || new_mod == NULL || new_abs == NULL) {
        Py_XDECREF(ts_obj);
        Py_XDECREF(new_mod);
        Py_XDECREF(new_abs);
        return FAILED;
    }
    replace_slot(hs, half_offsets, H_NEXT_MOD, new_mod);
    replace_slot(hs, half_offsets, H_NEXT_ABS, new_abs);
    Py_INCREF(frame_obj);
    replace_slot(hs, half_offsets, H_LAST_FRAME, frame_obj);
    Py_INCREF(ts_obj);
    replace_slot(hs, half_offsets, H_LAST_TS, ts_obj);
    int result = FAILED;
    PyObject *data = NULL;
    if (remember(recent, payload, n) < 0)
        goto done;
    /* ... and CtiStream.push */
    Py_ssize_t tail_len = PyBytes_GET_SIZE(tail);
    data = PyBytes_FromStringAndSize(NULL, tail_len + n);
    if (data == NULL)
        goto done;
    memcpy(PyBytes_AS_STRING(data), PyBytes_AS_STRING(tail), (size_t)tail_len);
    memcpy(PyBytes_AS_STRING(data) + tail_len, payload, (size_t)n);
    if (tail_len) {
        PyObject *empty = PyBytes_FromStringAndSize(NULL, 0);
        if (empty == NULL)
            goto done;
        replace_slot(sink, stream_offsets, S_TAIL, empty);
    }
    PyObject *out = SLOT(output, output_offsets, O_OUT);
    if (out == NULL || !PyList_Check(out)) {
        PyErr_SetString(PyExc_TypeError, "OrderedOutput.out is not a list");
        goto done;
    }
    Py_ssize_t pos = 0, count;
    int need_more;
    Py_INCREF(ctx); /* the sink may drop it while Python runs below */
    int r = frame_clean_core(data, &pos, ctx, frame_obj, ts_obj, out, &count, &need_more);
    Py_DECREF(ctx);
    if (r < 0)
        goto done;
    counts->messages += count;
    counts->bytes_decoded += pos;
    if (need_more) {
        if (pos < PyBytes_GET_SIZE(data)) {
            PyObject *rest = pos ? PyBytes_FromStringAndSize(PyBytes_AS_STRING(data) + pos, PyBytes_GET_SIZE(data) - pos)
                                 : Py_NewRef(data);
            if (rest == NULL)
                goto done;
            replace_slot(sink, stream_offsets, S_TAIL, rest);
        }
    } else {
        PyObject *res = PyObject_CallMethod(sink, "_push_rest", "OnOO", data, pos, frame_obj, ts_obj);
        if (res == NULL)
            goto done;
        Py_DECREF(res);
    }
    (void)frame;
    result = collect_output(output, batch) < 0 ? FAILED : DONE;
done:
    Py_XDECREF(data);
    Py_DECREF(ts_obj);
    return result;
}

/* One captured frame of a link whose IPv4 header is at `ip` (ethertype at `et`, or -1):
 * DONE (taken or skipped), DEFER (for Python; nothing changed) or FAILED. */
static int walk_frame(const unsigned char *d, Py_ssize_t len, int ip, int et, long long frame, double ts,
                      PyObject *flows, PyObject *ports, int detect, PyObject *output, PyObject *batch,
                      WalkCounts *counts) {
    if (et >= 0 && len > et + 1 && d[et] != 8) {
        /* VLAN tags (802.1Q, 802.1ad, ...) before the ethertype: 4 bytes each. */
        while (len >= et + 2 && is_vlan(be16(d + et))) {
            ip += 4;
            et += 4;
        }
    }
    /* The engine's inline condition: IPv4 without options, TCP, not a fragment, and not a
     * sweep frame. */
    if (!(ip >= 0 && len >= ip + 40 && (et < 0 || (d[et] == 8 && d[et + 1] == 0)) && d[ip] == 0x45
          && d[ip + 9] == 6 && !((d[ip + 6] & 0x3F) || d[ip + 7]) && (frame & sweep_mask)))
        return DEFER;
    const int tcp = ip + 20;
    PyObject *key = PyBytes_FromStringAndSize((const char *)d + ip + 12, 12);
    if (key == NULL)
        return FAILED;
    PyObject *hs = PyDict_GetItemWithError(flows, key); /* borrowed */
    Py_DECREF(key);
    if (hs == NULL) {
        if (PyErr_Occurred())
            return FAILED;
        if (detect)
            return DEFER;
        PyObject *sp = PyLong_FromLong(be16(d + tcp)), *dp = sp ? PyLong_FromLong(be16(d + tcp + 2)) : NULL;
        int in = dp ? PySet_Contains(ports, sp) : -1;
        if (in == 0)
            in = PySet_Contains(ports, dp);
        Py_XDECREF(sp);
        Py_XDECREF(dp);
        if (in < 0)
            return FAILED;
        return in ? DEFER /* a new CTI flow */ : DONE /* not CTI: skipped */;
    }
    if (Py_TYPE(hs) != half_type)
        return DEFER;
    uint32_t seq = be32(d + tcp + 4);
    unsigned char doff = d[tcp + 12], flags = d[tcp + 13];
    Py_ssize_t end = ip + ((d[ip + 2] << 8) | d[ip + 3]);
    Py_ssize_t hoff = tcp + ((doff >> 4) << 2);
    if ((flags & 0x07) /* SYN, FIN, RST */ || !(hoff <= end && end <= len) || doff < 0x50)
        return DEFER;
    PyObject *frame_obj = PyLong_FromLongLong(frame);
    if (frame_obj == NULL)
        return FAILED;
    Py_INCREF(hs); /* flows may change while Python code runs */
    int r = in_order_segment(hs, seq, flags & 0x10, d + hoff, end > hoff ? end - hoff : 0, frame_obj, frame, ts,
                             output, batch, counts);
    Py_DECREF(hs);
    Py_DECREF(frame_obj);
    return r;
}

/* Interface `iface` of a pcapng section as (link type, timestamp units per second, offset
 * seconds) when the C loop can take its frames (an inline link, and a resolution and offset
 * whose timestamps convert exactly as Python's do); 0 otherwise. */
static int inline_interface(PyObject *interfaces, uint32_t iface, long *linktype, unsigned long long *per_sec,
                            long long *offset) {
    if ((Py_ssize_t)iface >= PyList_GET_SIZE(interfaces))
        return 0;
    PyObject *entry = PyList_GET_ITEM(interfaces, iface);
    if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 3)
        return 0;
    *linktype = PyLong_AsLong(PyTuple_GET_ITEM(entry, 0));
    *per_sec = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(entry, 1));
    *offset = PyLong_AsLongLong(PyTuple_GET_ITEM(entry, 2));
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    const long long exact = 1LL << 52; /* doubles hold these exactly: same rounding as Python */
    return *linktype >= 0 && *linktype < MAX_LINKTYPE && link_ip[*linktype] >= 0 && *per_sec >= 1 && *per_sec < (unsigned long long)exact && *offset > -exact
        && *offset < exact;
}

enum { FORMAT_PCAP, FORMAT_PCAPNG };

/* walk_pcap(map, pos, size, big_endian, ts_scale, linktype, frame, flows, ports, detect, output, max_packets,
 *           batch)
 * walk_pcapng(map, pos, size, big_endian, interfaces, None, frame, flows, ports, detect, output, max_packets,
 *             batch)
 *   -> (pos, frame, first_ts, last_ts, cti_packets, messages, bytes_decoded, status)
 *
 * map: the mapped file (any buffer); pos: offset of the next record (pcap) or block
 * (pcapng); frame: number of the last frame done; interfaces: the pcapng reader's
 * [(linktype, units per second, offset)] of the current section.  Appends the records
 * that became final to batch.  status: 0 after max_packets frames, 1 when the record or
 * block at pos is for Python (frame not counted), 2 when no whole pcap record starts at pos
 * or the pcapng file ends (the Python reader reports any problem).  last_ts: time of the
 * last frame done here, or None; first_ts: of the first, or None. */
static PyObject *walk(int format, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 13) {
        PyErr_SetString(PyExc_TypeError, "walk_pcap()/walk_pcapng() take 13 arguments");
        return NULL;
    }
    if (half_type == NULL || message_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "walk_pcap()/walk_pcapng() called before configure() and "
                                            "configure_packets()");
        return NULL;
    }
    PyObject *flows = args[7], *ports = args[8], *output = args[10], *batch = args[12];
    if (!PyDict_Check(flows) || !PyAnySet_Check(ports) || Py_TYPE(output) != output_type || !PyList_Check(batch)
        || (format == FORMAT_PCAPNG && !PyList_Check(args[4]))) {
        PyErr_SetString(PyExc_TypeError, "walk_pcap()/walk_pcapng(): flows must be a dict, ports a set, output an "
                                         "OrderedOutput, batch a list, interfaces a list");
        return NULL;
    }
    PyObject *interfaces = args[4];
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]), size = PyLong_AsSsize_t(args[2]);
    int big = PyObject_IsTrue(args[3]);
    double scale = format == FORMAT_PCAP ? PyFloat_AsDouble(args[4]) : 0.0;
    long file_linktype = format == FORMAT_PCAP ? PyLong_AsLong(args[5]) : -1;
    long long frame = PyLong_AsLongLong(args[6]);
    int detect = PyObject_IsTrue(args[9]);
    Py_ssize_t max_packets = PyLong_AsSsize_t(args[11]);
    if (PyErr_Occurred() || big < 0 || detect < 0)
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (size > view.len)
        size = view.len;
    const unsigned char *m = (const unsigned char *)view.buf;
    WalkCounts counts = {0, 0, 0};
    int status = WALK_END, have_ts = 0;
    double first_ts = 0.0, last_ts = 0.0;
    Py_ssize_t done_packets = 0;

    while (1) {
        if (done_packets >= max_packets) {
            status = WALK_BATCH;
            break;
        }
        if (pos < 0 || pos >= size) {
            status = WALK_END;
            break;
        }
        const unsigned char *d;
        Py_ssize_t len, next;
        double ts;
        long linktype = file_linktype;
        if (format == FORMAT_PCAP) {
            const unsigned char *rec = m + pos;
            if (size - pos < 16) {
                status = WALK_END;
                break;
            }
            uint32_t sec = rd32(rec, big), frac = rd32(rec + 4, big), caplen = rd32(rec + 8, big);
            if ((Py_ssize_t)caplen > size - pos - 16 || (Py_ssize_t)caplen > max_record) {
                status = WALK_END; /* cut short (or corrupt): the Python reader says which */
                break;
            }
            d = rec + 16;
            len = caplen;
            next = pos + 16 + len;
            ts = (double)sec + (double)frac * scale;
        } else {
            /* Only a well-formed enhanced packet block of an inline-link interface; every other
             * block (section, interface, statistics, ...) and every problem is Python's. */
            const unsigned char *blk = m + pos;
            status = WALK_PYTHON;
            if (size - pos < 32 || rd32(blk, big) != 6)
                break;
            uint32_t blen = rd32(blk + 4, big), iface = rd32(blk + 8, big), caplen = rd32(blk + 20, big);
            if (blen < 32 || blen % 4 || (Py_ssize_t)blen > max_record || (Py_ssize_t)blen > size - pos
                || (Py_ssize_t)caplen > (Py_ssize_t)blen - 32)
                break;
            unsigned long long per_sec;
            long long offset;
            if (!inline_interface(interfaces, iface, &linktype, &per_sec, &offset))
                break;
            uint64_t raw_ts = ((uint64_t)rd32(blk + 12, big) << 32) | rd32(blk + 16, big);
            long long sec = (long long)(raw_ts / per_sec);
            if (raw_ts / per_sec >= (1ULL << 52))
                break;
            ts = (double)(sec + offset) + (double)(raw_ts % per_sec) / (double)per_sec;
            d = blk + 28;
            len = caplen;
            next = pos + blen;
        }
        long long this_frame = frame + 1;
        int ip = -1, et = -1;
        if (linktype >= 0 && linktype < MAX_LINKTYPE) {
            ip = link_ip[linktype];
            et = link_et[linktype];
        }
        int r = walk_frame(d, len, ip, et, this_frame, ts, flows, ports, detect, output, batch, &counts);
        if (r == FAILED)
            goto error;
        if (r == DEFER) {
            status = WALK_PYTHON;
            break;
        }
        frame = this_frame;
        if (!have_ts)
            first_ts = ts;
        last_ts = ts;
        have_ts = 1;
        pos = next;
        done_packets++;
    }
    PyBuffer_Release(&view);
    PyObject *first_out = have_ts ? PyFloat_FromDouble(first_ts) : Py_NewRef(Py_None);
    PyObject *last_out = have_ts ? PyFloat_FromDouble(last_ts) : Py_NewRef(Py_None);
    if (first_out == NULL || last_out == NULL) {
        Py_XDECREF(first_out);
        Py_XDECREF(last_out);
        return NULL;
    }
    return Py_BuildValue("(nLNNnnni)", pos, frame, first_out, last_out, counts.cti_packets, counts.messages,
                         counts.bytes_decoded, status);
error:
    PyBuffer_Release(&view);
    return NULL;
}

static PyObject *walk_pcap(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    return walk(FORMAT_PCAP, args, nargs);
}

static PyObject *walk_pcapng(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    return walk(FORMAT_PCAPNG, args, nargs);
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(message_cls, float_item_cls, tag_plan, constants): the record classes, the floating tag plan "
     "and the protocol constants."},
    {"frame_clean", (PyCFunction)(void (*)(void))frame_clean, METH_FASTCALL,
     "frame_clean(data, pos, context, frame, ts, out) -> (pos, count, need_more): decode the clean "
     "messages of data[pos:] into out; context is (version, max_body, plans, conn, direction, "
     "version_source, stop_at_open_req)."},
    {"configure_packets", configure_packets, METH_VARARGS,
     "configure_packets(HalfStream, CtiStream, OrderedOutput, history, max_record, sweep_mask, inline_links, "
     "vlan_ethertypes): what the walks update and which links they take."},
    {"walk_pcap", (PyCFunction)(void (*)(void))walk_pcap, METH_FASTCALL,
     "walk_pcap(map, pos, size, big_endian, ts_scale, linktype, frame, flows, ports, detect, output, max_packets, "
     "batch) "
     "-> (pos, frame, first_ts, last_ts, cti_packets, messages, bytes_decoded, status)."},
    {"walk_pcapng", (PyCFunction)(void (*)(void))walk_pcapng, METH_FASTCALL,
     "walk_pcapng(map, pos, size, big_endian, interfaces, None, frame, flows, ports, detect, output, "
     "max_packets, batch) -> (pos, frame, first_ts, last_ts, cti_packets, messages, bytes_decoded, status)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastframes",
    "C accelerator of the capture decoder's common case (see the source for what is clean).", -1, methods,
};

PyMODINIT_FUNC PyInit__fastframes(void) {
    str_version_source = PyUnicode_InternFromString("version_source");
    str_take = PyUnicode_InternFromString("take");
    if (str_version_source == NULL || str_take == NULL)
        return NULL;
    PyObject *mod = PyModule_Create(&module);
    if (mod == NULL)
        return NULL;
    /* The Message fields this module fills, in order: fastframes.py refuses the module when
     * the record class has others (a new field would be left unset). */
    PyObject *fields = PyTuple_New(M_COUNT);
    if (fields == NULL) {
        Py_DECREF(mod);
        return NULL;
    }
    for (int i = 0; i < M_COUNT; i++) {
        PyObject *name = PyUnicode_FromString(MESSAGE_SLOTS[i]);
        if (name == NULL) {
            Py_DECREF(fields);
            Py_DECREF(mod);
            return NULL;
        }
        PyTuple_SET_ITEM(fields, i, name);
    }
    if (PyModule_AddObject(mod, "MESSAGE_FIELDS", fields) < 0) {
        Py_DECREF(fields);
        Py_DECREF(mod);
        return NULL;
    }
    /* Raise with every change of the functions' arguments or results: fastframes.py refuses a
     * build of another interface (an in-place build left over from an older checkout). */
    if (PyModule_AddIntConstant(mod, "INTERFACE", 4) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
