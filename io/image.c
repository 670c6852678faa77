/*
** image.c -- PGM and PNG to a (H, W) tensor in [0, 1], and PGM and PNG out (image.h).
**
** The whole file is read into memory first (images are small; files over
** 1 GiB are refused), then parsed from there, so every reader checks against
** one known length.  PNG goes through libpng with its errors turned into a
** longjmp back to us (libpng's documented setjmp/png_jmpbuf protocol) and
** its warnings silenced.
*/
#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <png.h>

#include "image.h"
#include "replace.h"

#define IMAGE_MAX_FILE (INT64_C(1) << 30)   /* 1 GiB */

/* --- PGM --------------------------------------------------------------------- */

typedef struct cursor {
  const unsigned char *p, *end;
} cursor;

/* Skip whitespace and '#' comments (to the end of their line). */
static void skip_blank (cursor *c) {
  while (c->p < c->end) {
    if (*c->p == '#') {
      while (c->p < c->end && *c->p != '\n' && *c->p != '\r') c->p++;
    } else if (isspace(*c->p)) {
      c->p++;
    } else {
      break;
    }
  }
}

/* A decimal number of at most 9 digits' worth (< 10^9) into *v; 0 if the
** next byte is no digit or the number is larger. */
static int read_uint (cursor *c, uint32_t *v) {
  uint32_t x = 0;
  if (c->p >= c->end || !isdigit(*c->p)) return 0;
  while (c->p < c->end && isdigit(*c->p)) {
    if (x >= 100000000u) return 0;
    x = x * 10 + (uint32_t)(*c->p++ - '0');
  }
  *v = x;
  return 1;
}

static int load_pgm (nn_tensor **out, const unsigned char *buf, size_t len, const char *where) {
  static const char *const field[3] = { "width", "height", "maxval" };
  cursor c = { buf + 2, buf + len };
  int plain = buf[1] == '2';
  uint32_t v[3];
  for (int i = 0; i < 3; i++) {
    const unsigned char *before = c.p;
    skip_blank(&c);
    if (c.p == before && i == 0 && c.p < c.end)
      return nn_seterr(NN_EFORMAT, "%s: PGM: no whitespace after the magic number", where);
    if (!read_uint(&c, &v[i]))
      return nn_seterr(NN_EFORMAT, "%s: PGM: the %s is %s", where, field[i],
                       c.p >= c.end ? "missing (file truncated)" : "not a number below 10^9");
  }
  uint32_t w = v[0], h = v[1], maxval = v[2];
  if (w < 1 || h < 1 || w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE
      || (int64_t)w * h > IMAGE_MAX_PIXELS)
    return nn_seterr(NN_EFORMAT, "%s: PGM: size %ux%u is out of range (1 to %d a side, %lld "
                     "pixels in all)", where, w, h, IMAGE_MAX_SIDE, (long long)IMAGE_MAX_PIXELS);
  if (maxval < 1 || maxval > 65535)
    return nn_seterr(NN_EFORMAT, "%s: PGM: maxval %u is not in 1..65535", where, maxval);
  /* exactly one whitespace byte ends the header */
  if (c.p >= c.end || !isspace(*c.p))
    return nn_seterr(NN_EFORMAT, "%s: PGM: %s after maxval", where,
                     c.p >= c.end ? "the file ends" : "no whitespace");
  c.p++;
  size_t npix = (size_t)w * h, bps = maxval < 256 ? 1 : 2;
  if (!plain && (size_t)(c.end - c.p) < npix * bps)
    return nn_seterr(NN_EFORMAT, "%s: PGM: truncated: the raster of %ux%u needs %zu bytes, "
                     "the file has %zu after the header", where, w, h, npix * bps,
                     (size_t)(c.end - c.p));
  /* every plain value takes at least a digit and a separator (but the last) */
  if (plain && (size_t)(c.end - c.p) + 1 < npix * 2)
    return nn_seterr(NN_EFORMAT, "%s: PGM: truncated: %ux%u values cannot fit in the %zu bytes "
                     "after the header", where, w, h, (size_t)(c.end - c.p));
  int64_t shape[2] = { h, w };
  int rc = tensor_new(out, NN_CPU, 2, shape);
  if (rc != NN_OK) return rc;
  float *dst = tensor_data(*out);
  for (size_t i = 0; i < npix; i++) {
    uint32_t x;
    if (plain) {
      skip_blank(&c);
      if (!read_uint(&c, &x)) {
        rc = nn_seterr(NN_EFORMAT, "%s: PGM: pixel %zu (row %zu, column %zu) is %s", where,
                       i + 1, i / w + 1, i % w + 1,
                       c.p >= c.end ? "missing (file truncated)" : "not a number");
        break;
      }
      if (c.p < c.end && !isspace(*c.p) && *c.p != '#') {
        rc = nn_seterr(NN_EFORMAT, "%s: PGM: pixel %zu (row %zu, column %zu) is not a number",
                       where, i + 1, i / w + 1, i % w + 1);
        break;
      }
    } else {
      x = bps == 1 ? c.p[i] : (uint32_t)(c.p[2 * i] << 8 | c.p[2 * i + 1]);
    }
    if (x > maxval) {
      rc = nn_seterr(NN_EFORMAT, "%s: PGM: pixel %zu (row %zu, column %zu) is %u, above maxval "
                     "%u", where, i + 1, i / w + 1, i % w + 1, x, maxval);
      break;
    }
    dst[i] = (float)x / (float)maxval;
  }
  if (rc != NN_OK) {
    tensor_release(*out);
    *out = NULL;
  }
  return rc;
}

/* --- PNG, through libpng -------------------------------------------------------- */

typedef struct png_job {
  const unsigned char *buf;       /* the file, and how far libpng has read */
  size_t len, pos;
  char msg[200];                  /* libpng's error message */
} png_job;

static void png_read_mem (png_structp png, png_bytep dst, size_t n) {
  png_job *job = (png_job *)png_get_io_ptr(png);
  if (n > job->len - job->pos) png_error(png, "file is truncated");
  memcpy(dst, job->buf + job->pos, n);
  job->pos += n;
}

/* libpng calls this on an error and must not return: keep the message and
** jump back to the setjmp in load_png. */
static void png_on_error (png_structp png, png_const_charp msg) {
  png_job *job = (png_job *)png_get_error_ptr(png);
  snprintf(job->msg, sizeof job->msg, "%s", msg);
  png_longjmp(png, 1);
}

/* Warnings (a bad ancillary chunk, an sRGB profile it dislikes) are not
** ours to print. */
static void png_on_warning (png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

static int load_png (nn_tensor **out, const unsigned char *buf, size_t len, const char *where) {
  png_job job = { buf, len, 0, "" };
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &job, png_on_error,
                                           png_on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  /* written after setjmp and read after a longjmp: volatile (C11 7.13.2.1) */
  nn_tensor *volatile t = NULL;
  png_bytep *volatile rows = NULL;
  unsigned char *volatile pixels = NULL;
  int rc = NN_OK;
  *out = NULL;
  if (info == NULL) {
    png_destroy_read_struct(&png, NULL, NULL);
    return nn_seterr(NN_ENOMEM, "%s: out of host memory", where);
  }
  if (setjmp(png_jmpbuf(png))) {
    rc = nn_seterr(NN_EFORMAT, "%s: PNG: %s", where, job.msg);
    goto done;
  }
  png_set_read_fn(png, &job, png_read_mem);
  png_set_user_limits(png, IMAGE_MAX_SIDE, IMAGE_MAX_SIDE);
  png_read_info(png, info);
  png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  int depth = png_get_bit_depth(png, info), color = png_get_color_type(png, info);
  /* Deflate expands at most ~1032:1, so a file of `len` bytes holds at most
  ** about 1032 * len bytes of filtered rows: a header that claims more is
  ** corrupt, and is refused before we allocate for it. */
  uint64_t raw = (uint64_t)h * (png_get_rowbytes(png, info) + 1);
  if ((int64_t)w * h > IMAGE_MAX_PIXELS || raw > (uint64_t)len * 1100 + 4096) {
    rc = nn_seterr(NN_EFORMAT, "%s: PNG: %ux%u pixels cannot come from a file of %zu bytes",
                   where, (unsigned)w, (unsigned)h, len);
    goto done;
  }
  /* to one gray channel of 8 or 16 bits */
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  /* alpha, and tRNS transparency (which palette expansion turns into an
     alpha channel), dropped: a transparent pixel keeps its color */
  if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS))
    png_set_strip_alpha(png);
  /* Rec. 709 weights, given explicitly so that a cHRM chunk does not change
     them: libpng keeps them as 15-bit fractions (6966, 23435 and the rest,
     2367, of 32768) */
  if (color & PNG_COLOR_MASK_COLOR)       /* also palette: PALETTE = 3 = COLOR | 1 */
    png_set_rgb_to_gray_fixed(png, PNG_ERROR_ACTION_NONE, 21260, 71520);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  depth = png_get_bit_depth(png, info);
  if (png_get_channels(png, info) != 1 || (depth != 8 && depth != 16)) {
    rc = nn_seterr(NN_EFORMAT, "%s: PNG: cannot convert color type %d, depth %d to gray",
                   where, color, depth);
    goto done;
  }
  size_t rowbytes = png_get_rowbytes(png, info);
  pixels = malloc(rowbytes * h);
  rows = malloc(sizeof *rows * h);
  int64_t shape[2] = { h, w };
  if (pixels == NULL || rows == NULL) {
    rc = nn_seterr(NN_ENOMEM, "%s: out of host memory", where);
    goto done;
  }
  {
    nn_tensor *made;
    if ((rc = tensor_new(&made, NN_CPU, 2, shape)) != NN_OK) goto done;
    t = made;
  }
  for (png_uint_32 y = 0; y < h; y++) rows[y] = pixels + y * rowbytes;
  png_read_image(png, rows);
  png_read_end(png, NULL);                /* the chunks after the image, IEND */
  float *dst = tensor_data(t);
  for (size_t i = 0; i < (size_t)w * h; i++) {
    const unsigned char *p = pixels + (i / w) * rowbytes;
    size_t x = i % w;
    dst[i] = depth == 8 ? (float)p[x] / 255.0f
                        : (float)(p[2 * x] << 8 | p[2 * x + 1]) / 65535.0f;
  }

done:
  png_destroy_read_struct(&png, &info, NULL);
  free(rows);
  free(pixels);
  if (rc == NN_OK) *out = t;
  else tensor_release(t);
  return rc;
}

/* --- loading: by magic bytes ---------------------------------------------------- */

int image_load_mem (nn_tensor **out, const unsigned char *buf, size_t len, const char *where) {
  static const unsigned char png_magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  *out = NULL;
  if (len >= 2 && buf[0] == 'P' && (buf[1] == '5' || buf[1] == '2'))
    return load_pgm(out, buf, len, where);
  if (len >= 8 && memcmp(buf, png_magic, 8) == 0) return load_png(out, buf, len, where);
  if (len >= 2 && buf[0] == 'P' && buf[1] >= '1' && buf[1] <= '7')
    return nn_seterr(NN_EFORMAT, "%s: a Netpbm P%c file, but only grayscale PGM (P5, P2) is "
                     "read", where, buf[1]);
  return nn_seterr(NN_EFORMAT, "%s: not a PGM or PNG image (unknown first bytes)", where);
}

int image_load (nn_tensor **out, const char *path) {
  *out = NULL;
  FILE *fp = fopen(path, "rb");
  if (fp == NULL) return nn_seterr(NN_EIO, "%s: %s", path, strerror(errno));
  struct stat st;
  unsigned char *buf = NULL;
  int rc = NN_OK;
  if (fstat(fileno(fp), &st) != 0) rc = nn_seterr(NN_EIO, "%s: %s", path, strerror(errno));
  else if (!S_ISREG(st.st_mode)) rc = nn_seterr(NN_EIO, "%s: not a regular file", path);
  else if (st.st_size > IMAGE_MAX_FILE)
    rc = nn_seterr(NN_EFORMAT, "%s: %lld bytes is too large for an image (at most %lld)", path,
                   (long long)st.st_size, (long long)IMAGE_MAX_FILE);
  else if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
    rc = nn_seterr(NN_ENOMEM, "%s: out of host memory", path);
  else if (fread(buf, 1, (size_t)st.st_size, fp) != (size_t)st.st_size)
    rc = nn_seterr(NN_EIO, "%s: read error", path);
  fclose(fp);
  if (rc == NN_OK) rc = image_load_mem(out, buf, (size_t)st.st_size, path);
  free(buf);
  return rc;
}

/* --- saving ----------------------------------------------------------------------- */

/* io_replace_file's writer of a PGM: the P5 header, then h rows of w bytes */
typedef struct pgm_bytes { const unsigned char *bytes; int64_t w, h; } pgm_bytes;

static int write_pgm_file (FILE *fp, void *ctx, int *err) {
  const pgm_bytes *p = ctx;
  size_t n = (size_t)(p->w * p->h);
  if (fprintf(fp, "P5\n%lld %lld\n255\n", (long long)p->w, (long long)p->h) < 0
      || fwrite(p->bytes, 1, n, fp) != n) {
    *err = errno;
    return NN_EIO;
  }
  return NN_OK;
}

int image_save_pgm (const char *path, const nn_tensor *img) {
  if (img->ndim != 2 || img->numel == 0 || img->shape[0] > IMAGE_MAX_SIDE
      || img->shape[1] > IMAGE_MAX_SIDE)
    return nn_seterr(NN_ESHAPE, "an image is a 2-D tensor (H, W) with sides 1 to %d, got %s",
                     IMAGE_MAX_SIDE, shape_str(img).s);
  nn_tensor *host = NULL;
  int rc = NN_OK;
  if (img->storage->device != NN_CPU && (rc = tensor_to(&host, img, NN_CPU)) != NN_OK) return rc;
  const float *src = tensor_data(host ? host : img);
  size_t n = (size_t)img->numel;
  unsigned char *bytes = malloc(n);
  if (bytes == NULL) {
    tensor_release(host);
    return nn_seterr(NN_ENOMEM, "%s: out of host memory", path);
  }
  for (size_t i = 0; i < n; i++) {
    float v = src[i];
    /* clamp to [0, 1]; !(v > 0) also catches NaN */
    bytes[i] = !(v > 0.0f) ? 0 : v >= 1.0f ? 255 : (unsigned char)(v * 255.0f + 0.5f);
  }
  tensor_release(host);
  pgm_bytes pgm = { bytes, img->shape[1], img->shape[0] };
  rc = io_replace_file(path, write_pgm_file, &pgm);
  free(bytes);
  return rc;
}

/* --- PNG out ------------------------------------------------------------------------ */

/* libpng's write errors come back here as a longjmp, as load_png's do */
typedef struct png_out { FILE *fp; char msg[200]; } png_out;

static void png_out_error (png_structp png, png_const_charp msg) {
  png_out *o = (png_out *)png_get_error_ptr(png);
  snprintf(o->msg, sizeof o->msg, "%s", msg);
  png_longjmp(png, 1);
}

/* Encode rows (h rows of w bytes) to fp; 0 on success, else -1 with o->msg. */
static int write_png_rows (png_out *o, unsigned char *bytes, uint32_t w, uint32_t h) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, o, png_out_error,
                                            png_on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (info == NULL) {
    png_destroy_write_struct(&png, NULL);
    snprintf(o->msg, sizeof o->msg, "out of host memory");
    return -1;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return -1;
  }
  png_init_io(png, o->fp);
  png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (uint32_t r = 0; r < h; r++) png_write_row(png, bytes + (size_t)r * w);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  return 0;
}

/* io_replace_file's writer of a PNG: the rows of a w x h gray image */
typedef struct png_rows { const char *path; unsigned char *bytes; uint32_t w, h; } png_rows;

static int write_png_file (FILE *fp, void *ctx, int *err) {
  const png_rows *r = ctx;
  png_out o = { fp, "" };
  if (write_png_rows(&o, r->bytes, r->w, r->h) == 0) return NN_OK;
  if (o.msg[0] == '\0') { *err = errno; return NN_EIO; }
  return nn_seterr(NN_EIO, "%s: cannot write: %s", r->path, o.msg);
}

int image_save_png (const char *path, const nn_tensor *img, float lo, float hi) {
  if (img->ndim != 2 || img->numel == 0 || img->shape[0] > IMAGE_MAX_SIDE
      || img->shape[1] > IMAGE_MAX_SIDE)
    return nn_seterr(NN_ESHAPE, "an image is a 2-D tensor (H, W) with sides 1 to %d, got %s",
                     IMAGE_MAX_SIDE, shape_str(img).s);
  if (!(hi > lo)) hi = lo + 1.0f;            /* a constant image: all lo -> 0 */
  nn_tensor *host = NULL;
  int rc = NN_OK;
  if (img->storage->device != NN_CPU && (rc = tensor_to(&host, img, NN_CPU)) != NN_OK) return rc;
  const float *src = tensor_data(host ? host : img);
  size_t n = (size_t)img->numel;
  unsigned char *bytes = malloc(n);
  if (bytes == NULL) {
    tensor_release(host);
    return nn_seterr(NN_ENOMEM, "%s: out of host memory", path);
  }
  float scale = 1.0f / (hi - lo);
  for (size_t i = 0; i < n; i++) {
    float v = (src[i] - lo) * scale;
    /* clamp to [0, 1]; !(v > 0) also catches NaN */
    bytes[i] = !(v > 0.0f) ? 0 : v >= 1.0f ? 255 : (unsigned char)(v * 255.0f + 0.5f);
  }
  tensor_release(host);
  png_rows rows = { path, bytes, (uint32_t)img->shape[1], (uint32_t)img->shape[0] };
  rc = io_replace_file(path, write_png_file, &rows);
  free(bytes);
  return rc;
}
