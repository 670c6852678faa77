/*
** idx.c -- the IDX reader (format in idx.h).
**
** One parser for both entry points: it pulls bytes from a `source`, which
** is a file (inflated by zlib's inflate when it starts with the gzip magic
** 1f 8b, else read as it is) or a block of memory (the fuzz target).  We
** drive inflate ourselves rather than through gzread, which silently
** ignores whatever follows the last gzip member: here bytes after the end
** of the gzip stream are refused, as they are after a plain file.  Every length
** is checked before it is trusted: the 4-byte magic, the header of ndim
** sizes, the product of the sizes against overflow and IDX_MAX_NUMEL, and
** the data against the sizes, to the byte.  When the total length is known
** beforehand (memory, a plain file) the data length is checked before the
** tensor is allocated; a gzip stream's length is only known by reading it,
** so there the check is made as the data arrives.
**
** Speed: the data is read in chunks of 1 MiB and each chunk converted to
** float32 in one pass, so the 47 MB of Fashion-MNIST's training images cost
** one inflate plus one conversion loop, and a chunk, not a second copy of
** the file, is all the extra memory.
*/
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "idx.h"

#define CHUNK ((size_t)1 << 20)   /* bytes per read: a multiple of every element size */
#define DEFLATE_MAX_RATIO 1032     /* inflated bytes per compressed byte, at most */
#define INBUF ((size_t)1 << 17)    /* 128 KiB of the file per read(): few syscalls */

/* --- sources ------------------------------------------------------------------- */

/* Where the bytes come from. */
typedef struct source {
  const char *name;              /* the path, or "<memory>": the start of every message */
  int fd;                        /* a file, or -1: memory */
  int gzip;                      /* the file starts 1f 8b: its bytes go through zs */
  z_stream zs;                   /* the file's bytes read ahead (next_in, avail_in), and
                                    for gzip the inflater */
  unsigned char *in;             /* INBUF bytes: where zs.next_in points */
  int eof;                       /* read() has said the file has no more */
  int ended;                     /* gzip: no more data (the last member ended, or the
                                    file did, and then `cut` says so) */
  int64_t nread;                 /* bytes of the file read() so far */
  const unsigned char *mem;      /* memory: the bytes, their count, the next one */
  size_t len, pos;
  int64_t size;                  /* all the bytes there are, when known beforehand; else -1 */
  int64_t packed;                /* a gzip file's own length, when known; else -1 */
  const char *cut;               /* why a gzip stream ended early, else NULL */
} source;

/* Read ahead until `want` bytes of the file wait in s->in (fewer only at
** the end of the file).  Errors: NN_EIO. */
static int fill (source *s, size_t want) {
  while (s->zs.avail_in < want && !s->eof) {
    if (s->zs.next_in != s->in && s->zs.avail_in > 0) memmove(s->in, s->zs.next_in, s->zs.avail_in);
    s->zs.next_in = s->in;
    ssize_t r = read(s->fd, s->in + s->zs.avail_in, INBUF - s->zs.avail_in);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return nn_seterr(NN_EIO, "%s: read error: %s", s->name, strerror(errno));
    if (r == 0) s->eof = 1;
    s->zs.avail_in += (uInt)r;
    s->nread += r;
  }
  return NN_OK;
}

/* gzip: up to n bytes of inflated data into buf.  A file may hold several
** gzip members one after the other (RFC 1952 sec. 2.2), read as one
** stream; after the last, the file must end: anything else there is
** refused, as trailing bytes after a plain file are. */
static int read_gzip (source *s, unsigned char *buf, size_t n, size_t *got) {
  int rc;
  while (*got < n && !s->ended) {
    if ((rc = fill(s, 1)) != NN_OK) return rc;
    if (s->zs.avail_in == 0) {                    /* the file ends inside a member */
      s->cut = "unexpected end of file";
      s->ended = 1;
      break;
    }
    size_t want = n - *got < CHUNK ? n - *got : CHUNK;
    s->zs.next_out = buf + *got;
    s->zs.avail_out = (uInt)want;
    int z = inflate(&s->zs, Z_NO_FLUSH);
    *got += want - s->zs.avail_out;
    if (z == Z_OK || z == Z_BUF_ERROR) continue;
    if (z == Z_MEM_ERROR)
      return nn_seterr(NN_ENOMEM, "%s: out of memory while decompressing", s->name);
    if (z != Z_STREAM_END)
      return nn_seterr(NN_EFORMAT, "%s: corrupt gzip stream: %s", s->name,
                       s->zs.msg ? s->zs.msg : "unknown zlib error");
    /* a member ended, its CRC-32 and length checked: the file ends, or
       another member starts (1f 8b) */
    if ((rc = fill(s, 2)) != NN_OK) return rc;
    if (s->zs.avail_in == 0) { s->ended = 1; break; }
    if (s->zs.avail_in < 2 || s->zs.next_in[0] != 0x1f || s->zs.next_in[1] != 0x8b) {
      if (s->packed >= 0)
        return nn_seterr(NN_EFORMAT, "%s: trailing bytes: %lld after the end of the gzip "
                         "stream, not gzip data", s->name,
                         (long long)(s->packed - (s->nread - (int64_t)s->zs.avail_in)));
      return nn_seterr(NN_EFORMAT, "%s: trailing bytes after the end of the gzip stream, not "
                       "gzip data", s->name);
    }
    if (inflateReset(&s->zs) != Z_OK)
      return nn_seterr(NN_EFORMAT, "%s: corrupt gzip stream", s->name);
  }
  return NN_OK;
}

/* Read up to n bytes into buf; *got < n only at the end of the data.  A
** gzip stream that ends before its end marker is an end too, and s->cut
** then says so.  Errors: NN_EIO (a read failed), NN_EFORMAT (a corrupt
** gzip stream: bad header, bad data, bad checksum, bytes after its end),
** NN_ENOMEM. */
static int source_read (source *s, unsigned char *buf, size_t n, size_t *got) {
  *got = 0;
  if (s->fd < 0) {
    size_t take = s->len - s->pos < n ? s->len - s->pos : n;
    if (take > 0) memcpy(buf, s->mem + s->pos, take);
    s->pos += take;
    *got = take;
    return NN_OK;
  }
  if (s->gzip) return read_gzip(s, buf, n, got);
  /* a plain file: what was read ahead first, then straight from the file */
  size_t ahead = s->zs.avail_in < n ? s->zs.avail_in : n;
  if (ahead > 0) memcpy(buf, s->zs.next_in, ahead);
  s->zs.next_in += ahead;
  s->zs.avail_in -= (uInt)ahead;
  *got = ahead;
  while (*got < n && !s->eof) {
    ssize_t r = read(s->fd, buf + *got, n - *got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return nn_seterr(NN_EIO, "%s: read error: %s", s->name, strerror(errno));
    if (r == 0) s->eof = 1;
    *got += (size_t)r;
    s->nread += r;
  }
  return NN_OK;
}

/* " (the gzip stream ends early: unexpected end of file)" or "" */
static void cut_note (char *buf, size_t len, const source *s) {
  if (s->cut) snprintf(buf, len, " (the gzip stream ends early: %s)", s->cut);
  else buf[0] = '\0';
}

/* --- the header ---------------------------------------------------------------------- */

typedef struct idx_type { unsigned char code; unsigned char bytes; const char *name; } idx_type;

static const idx_type idx_types[] = {
  { 0x08, 1, "unsigned byte" }, { 0x09, 1, "signed byte" }, { 0x0B, 2, "int16" },
  { 0x0C, 4, "int32" }, { 0x0D, 4, "float32" }, { 0x0E, 8, "float64" },
};

static const idx_type *find_type (unsigned char code) {
  for (size_t i = 0; i < sizeof idx_types / sizeof idx_types[0]; i++)
    if (idx_types[i].code == code) return &idx_types[i];
  return NULL;
}

/* What the header says: the type, the shape, and the byte counts that follow. */
typedef struct idx_header {
  const idx_type *type;
  nn_tensor shape;               /* only ndim, shape[] and numel: for shape_str */
  size_t header_bytes;           /* 4 + 4 * ndim */
  size_t data_bytes;             /* numel * type->bytes */
} idx_header;

static uint32_t be32 (const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Read and check the magic number and the sizes.  Errors: NN_EFORMAT, and
** the source's own. */
static int read_header (idx_header *h, source *s) {
  unsigned char b[4 * NN_MAXDIM];
  size_t got;
  char note[160];
  int rc = source_read(s, b, 4, &got);
  if (rc != NN_OK) return rc;
  cut_note(note, sizeof note, s);
  if (got == 0) return nn_seterr(NN_EFORMAT, "%s: the file is empty%s", s->name, note);
  if (got < 4)
    return nn_seterr(NN_EFORMAT, "%s: truncated: an IDX file starts with a 4-byte magic number, "
                     "found %zu bytes%s", s->name, got, note);
  if (b[0] != 0 || b[1] != 0)
    return nn_seterr(NN_EFORMAT, "%s: bad magic number: found %02x %02x %02x %02x, expected 00 00 "
                     "then the type and the number of dims (is it an IDX file?%s)", s->name,
                     b[0], b[1], b[2], b[3],
                     s->fd < 0 && b[0] == 0x1f && b[1] == 0x8b
                       ? " it looks gzip'd: decompress it first" : "");
  h->type = find_type(b[2]);
  if (h->type == NULL)
    return nn_seterr(NN_EFORMAT, "%s: bad magic number %02x %02x %02x %02x: unknown type 0x%02x "
                     "(IDX types: 08 unsigned byte, 09 signed byte, 0B int16, 0C int32, "
                     "0D float32, 0E float64)", s->name, b[0], b[1], b[2], b[3], b[2]);
  int ndim = b[3];
  if (ndim < 1 || ndim > NN_MAXDIM)
    return nn_seterr(NN_EFORMAT, "%s: bad magic number %02x %02x %02x %02x: %d dims, nnlua reads "
                     "1 to %d", s->name, b[0], b[1], b[2], b[3], ndim, NN_MAXDIM);
  h->header_bytes = 4 + 4 * (size_t)ndim;
  if ((rc = source_read(s, b, 4 * (size_t)ndim, &got)) != NN_OK) return rc;
  if (got < 4 * (size_t)ndim) {
    cut_note(note, sizeof note, s);
    return nn_seterr(NN_EFORMAT, "%s: truncated: the header of %d dims needs %zu bytes, "
                     "found %zu%s", s->name, ndim, h->header_bytes, 4 + got, note);
  }
  /* the sizes, and their product checked step by step against the cap */
  memset(&h->shape, 0, sizeof h->shape);
  h->shape.ndim = ndim;
  int64_t numel = 1;
  int too_large = 0;
  for (int d = 0; d < ndim; d++) {
    h->shape.shape[d] = be32(b + 4 * d);
    if (h->shape.shape[d] > 0 && numel > IDX_MAX_NUMEL / h->shape.shape[d]) too_large = 1;
    else numel *= h->shape.shape[d];
  }
  if (too_large)
    return nn_seterr(NN_EFORMAT, "%s: the sizes %s make more than %lld elements: a corrupt header?",
                     s->name, shape_str(&h->shape).s, (long long)IDX_MAX_NUMEL);
  h->shape.numel = numel;
  h->data_bytes = (size_t)numel * h->type->bytes;
  return NN_OK;
}

/* --- the data ------------------------------------------------------------------------ */

/* Big-endian elements of `type` to float32, n of them.  The signed types
** are decoded arithmetically (u - 2^16 when the sign bit is set), not by a
** cast, whose result C leaves to the implementation. */
static void convert (float *dst, const unsigned char *src, size_t n, unsigned char type) {
  switch (type) {
    case 0x08:
      for (size_t i = 0; i < n; i++) dst[i] = (float)src[i];
      break;
    case 0x09:
      for (size_t i = 0; i < n; i++) dst[i] = (float)((int)src[i] - ((src[i] & 0x80) ? 256 : 0));
      break;
    case 0x0B:
      for (size_t i = 0; i < n; i++) {
        int32_t u = (int32_t)src[2 * i] << 8 | src[2 * i + 1];
        dst[i] = (float)(u - ((u & 0x8000) ? 65536 : 0));
      }
      break;
    case 0x0C:
      for (size_t i = 0; i < n; i++) {
        int64_t u = be32(src + 4 * i);
        dst[i] = (float)(u - ((u & 0x80000000) ? INT64_C(4294967296) : 0));
      }
      break;
    case 0x0D:
      for (size_t i = 0; i < n; i++) {
        uint32_t u = be32(src + 4 * i);
        memcpy(&dst[i], &u, sizeof u);
      }
      break;
    case 0x0E:
      for (size_t i = 0; i < n; i++) {
        uint64_t u = (uint64_t)be32(src + 8 * i) << 32 | be32(src + 8 * i + 4);
        double v;
        memcpy(&v, &u, sizeof v);
        dst[i] = (float)v;
      }
      break;
  }
}

static int load (nn_tensor **out, source *s) {
  *out = NULL;
  idx_header h;
  int rc = read_header(&h, s);
  if (rc != NN_OK) return rc;
  char note[160];
  /* the whole length known: check it before allocating anything */
  if (s->size >= 0) {
    size_t have = (size_t)s->size - h.header_bytes;
    if (have < h.data_bytes)
      return nn_seterr(NN_EFORMAT, "%s: truncated: expected %zu bytes of data, found %zu "
                       "(%s %s)", s->name, h.data_bytes, have, h.type->name,
                       shape_str(&h.shape).s);
    if (have > h.data_bytes)
      return nn_seterr(NN_EFORMAT, "%s: trailing bytes: %zu more after the %zu bytes of data "
                       "(%s %s)", s->name, have - h.data_bytes, h.data_bytes, h.type->name,
                       shape_str(&h.shape).s);
  }
  /* a gzip stream inflates to at most 1032 times its length (deflate's
  ** limit, zlib's FAQ): a header that claims more cannot be honest, and
  ** we do not allocate for it */
  if (s->packed >= 0 && h.data_bytes / DEFLATE_MAX_RATIO > (size_t)s->packed)
    return nn_seterr(NN_EFORMAT, "%s: truncated: expected %zu bytes of data (%s %s), but %lld "
                     "bytes of gzip inflate to at most %lld", s->name, h.data_bytes,
                     h.type->name, shape_str(&h.shape).s, (long long)s->packed,
                     (long long)s->packed * DEFLATE_MAX_RATIO);
  nn_tensor *t;
  if ((rc = tensor_new(&t, NN_CPU, h.shape.ndim, h.shape.shape)) != NN_OK) {
    char why[256];
    snprintf(why, sizeof why, "%s", nn_errmsg());
    return nn_seterr(rc, "%s: %s", s->name, why);
  }
  size_t chunk = h.data_bytes < CHUNK ? h.data_bytes : CHUNK;
  unsigned char *buf = malloc(chunk ? chunk : 1);
  if (buf == NULL) {
    tensor_release(t);
    return nn_seterr(NN_ENOMEM, "%s: out of host memory", s->name);
  }
  size_t done = 0, elem = h.type->bytes;
  float *dst = tensor_data(t);
  while (done < h.data_bytes) {
    size_t want = h.data_bytes - done < chunk ? h.data_bytes - done : chunk, got;
    if ((rc = source_read(s, buf, want, &got)) != NN_OK) break;
    convert(dst + done / elem, buf, got / elem, h.type->code);
    done += got;
    if (got < want) {
      cut_note(note, sizeof note, s);
      rc = nn_seterr(NN_EFORMAT, "%s: truncated: expected %zu bytes of data, found %zu (%s %s)%s",
                     s->name, h.data_bytes, done, h.type->name, shape_str(&h.shape).s, note);
      break;
    }
  }
  /* nothing may follow the data; a gzip stream must also end cleanly (its
  ** checksum is read and checked here, by zlib) */
  if (rc == NN_OK && s->size < 0) {
    size_t got;
    if ((rc = source_read(s, buf, 1, &got)) == NN_OK) {
      if (got > 0)
        rc = nn_seterr(NN_EFORMAT, "%s: trailing bytes after the %zu bytes of data (%s %s)",
                       s->name, h.data_bytes, h.type->name, shape_str(&h.shape).s);
      else if (s->cut)
        rc = nn_seterr(NN_EFORMAT, "%s: truncated gzip stream: the data is complete but its "
                       "checksum is missing (%s)", s->name, s->cut);
    }
  }
  free(buf);
  if (rc != NN_OK) { tensor_release(t); return rc; }
  *out = t;
  return NN_OK;
}

/* --- entry points ------------------------------------------------------------------------ */

int idx_load (nn_tensor **out, const char *path) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nn_seterr(NN_EIO, "%s: %s", path, strerror(errno));
  struct stat st;
  int err = fstat(fd, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
  if (err != 0) {
    close(fd);
    return nn_seterr(NN_EIO, "%s: %s", path, strerror(err));
  }
  source s = { .name = path, .fd = fd, .size = -1, .packed = -1 };
  s.in = malloc(INBUF);
  if (s.in == NULL) {
    close(fd);
    return nn_seterr(NN_ENOMEM, "%s: out of host memory", path);
  }
  s.zs.next_in = s.in;
  /* gzip when it starts with the magic 1f 8b, else plain: a plain file's
  ** length is the file's; a gzip file's length bounds the data's */
  int rc = fill(&s, 2);
  if (rc == NN_OK) {
    s.gzip = s.zs.avail_in >= 2 && s.in[0] == 0x1f && s.in[1] == 0x8b;
    if (S_ISREG(st.st_mode)) {
      if (s.gzip) s.packed = (int64_t)st.st_size;
      else s.size = (int64_t)st.st_size;
    }
    /* 15 + 16: a window of up to 32 KiB, in gzip wrapping only */
    if (s.gzip && inflateInit2(&s.zs, 15 + 16) != Z_OK) {
      s.gzip = 0;
      rc = nn_seterr(NN_ENOMEM, "%s: out of memory for the inflater", path);
    }
  }
  if (rc == NN_OK) rc = load(out, &s);
  if (s.gzip) inflateEnd(&s.zs);
  free(s.in);
  close(fd);
  return rc;
}

int idx_load_mem (nn_tensor **out, const unsigned char *buf, size_t len) {
  source s = { .name = "<memory>", .fd = -1, .mem = buf, .len = len, .size = (int64_t)len,
               .packed = -1 };
  return load(out, &s);
}
