/*
** image.h -- grayscale images in and out: PGM, and PNG through libpng.
**
** What scripts/predict.lua needs to classify one picture: a (H, W) float
** tensor with values in [0, 1] (0 black, 1 white), as the datasets give.
** A plain C library on top of tensor.h (no lua.h): errors come back as
** NN_EIO (the file cannot be read or written) or NN_EFORMAT (it is not a
** PGM or PNG, or a corrupt or truncated one), with the path and the reason
** in nn_errmsg(); a corrupt file never ends the process.
**
** Formats
**   PGM  Netpbm, https://netpbm.sourceforge.net/doc/pgm.html: "P5" (binary)
**        or "P2" (plain, ASCII), then width, height, maxval (1..65535) as
**        decimal numbers separated by whitespace, '#' comments to the end of
**        a line allowed between them; one whitespace; then the raster: P5
**        has 1 byte per pixel when maxval < 256, else 2 (big-endian); P2 has
**        decimal numbers.  Pixel values are divided by maxval.  Bytes after
**        the raster (a second image) are ignored.
**   PNG  https://www.w3.org/TR/png/, any color type and bit depth:
**        palette expanded, bit depths 1, 2, 4 widened to 8, color turned
**        into gray by libpng's png_set_rgb_to_gray with the Rec. 709 weights
**        0.2126 R + 0.7152 G + 0.0722 B (whatever a cHRM chunk says), on the
**        stored values (gAMA is ignored: no gamma correction); libpng
**        truncates the 8-bit result and rounds the 16-bit one.  Alpha and
**        tRNS transparency are dropped (a transparent pixel keeps its color).  16-bit images keep 16 bits (values
**        divided by 65535), others are divided by 255.
** The format is told by the first bytes of the file, not by its name.
*/
#ifndef NN_IMAGE_H
#define NN_IMAGE_H

#include <stddef.h>
#include "tensor.h"

/* The largest width or height we read, and the most pixels: a guard that
** keeps a corrupt header from asking for gigabytes. */
#define IMAGE_MAX_SIDE 65535
#define IMAGE_MAX_PIXELS (INT64_C(1) << 28)

/* A new CPU tensor (H, W) of floats in [0, 1] in *out (NULL on error) from
** a PGM or PNG file.  Errors: NN_EIO, NN_EFORMAT, NN_ENOMEM. */
int image_load (nn_tensor **out, const char *path);
/* The same from len bytes in memory; messages name `where`. */
int image_load_mem (nn_tensor **out, const unsigned char *buf, size_t len, const char *where);

/* Write img, a 2-D tensor (H, W) on any device with H, W >= 1, as an 8-bit
** binary PGM (P5, maxval 255): each value clamped to [0, 1] (NaN as 0),
** times 255, rounded to nearest.  Replaced atomically as image_save_png
** (io/replace.h): `path` holds the old file or the whole new one, and a
** directory, FIFO or device there is refused before anything is written.
** Errors: NN_ESHAPE (not 2-D, or empty), NN_EIO (with the path and the
** reason), NN_ENOMEM, NN_ECUDA. */
int image_save_pgm (const char *path, const nn_tensor *img);

/* Write img, a 2-D tensor (H, W) on any device with sides 1 to
** IMAGE_MAX_SIDE, as an 8-bit grayscale PNG through libpng: each value v
** becomes (v - lo) / (hi - lo) clamped to [0, 1] (NaN as 0), times 255,
** rounded to nearest (lo = 0, hi = 1 saves values in [0, 1] as they are;
** hi <= lo is taken as hi = lo + 1).  Atomic: the bytes go to a temporary
** file beside `path` (".<name>.tmp.XXXXXX"), which is fsynced and renamed
** over `path`, so `path` holds the old file or the whole new one.
** Errors: NN_ESHAPE (not 2-D, empty, too large), NN_EIO (with the path and
** the reason), NN_ENOMEM, NN_ECUDA. */
int image_save_png (const char *path, const nn_tensor *img, float lo, float hi);

#endif
