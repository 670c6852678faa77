/*
** io/replace.c -- replacing a file so that it is whole or not there
** (io/replace.h): a temporary file beside the target, written, fsynced and
** renamed over it.  The writers of files a run keeps go through
** io_replace_file: safetensors checkpoints (io/safetensors.c), PGM and PNG
** images (io/image.c), ONNX models (io/onnx.c).
*/
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tensor.h"
#include "replace.h"

/* The directory part of path ("." for a bare name, "/" for "/name"),
** malloc'ed; NULL when out of memory. */
static char *dir_of (const char *path) {
  const char *slash = strrchr(path, '/');
  size_t len = slash == NULL ? 1 : slash == path ? 1 : (size_t)(slash - path);
  char *dir = malloc(len + 1);
  if (dir == NULL) return NULL;
  memcpy(dir, slash == NULL ? "." : path, len);
  dir[len] = '\0';
  return dir;
}

/* The mode the new file gets: the old file's, else 0666 & ~umask (mkstemp
** makes its file 0600).  Reading the umask sets it, so it is set back. */
static mode_t new_file_mode (const char *path) {
  struct stat st;
  if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) return st.st_mode & 07777;
  mode_t mask = umask(0);
  umask(mask);
  return 0666 & ~mask;
}

/* What a file of mode m is, for messages. */
static const char *file_kind (mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISLNK(m)) return "a symbolic link";
  return "not a regular file";
}

/* The file a save to `path` replaces, malloc'ed in *target: path itself
** when nothing is there (or lstat fails: the steps after report why) or a
** regular file is; the regular file a symbolic link leads to, followed to
** its end (realpath), so the link stays a link, as editors do.  Anything
** else is refused, before a byte is written: a directory, a FIFO, a
** device, a socket, a dangling link or one to such a file.  (A file
** swapped in between this check and the rename is not caught.) */
static int resolve_target (char **target, const char *path) {
  struct stat st;
  *target = NULL;
  if (lstat(path, &st) != 0 || S_ISREG(st.st_mode)) {
    if ((*target = strdup(path)) == NULL) return nn_seterr(NN_ENOMEM, "out of host memory");
    return NN_OK;
  }
  if (!S_ISLNK(st.st_mode))
    return nn_seterr(NN_EIO, "%s: is %s, not a regular file: refusing to replace it", path,
                     file_kind(st.st_mode));
  char *real = realpath(path, NULL);
  if (real == NULL)
    return nn_seterr(NN_EIO, "%s: is a symbolic link that leads nowhere (%s): refusing to "
                     "replace it", path, strerror(errno));
  if (stat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
    int rc = nn_seterr(NN_EIO, "%s: is a symbolic link to %s (%s), not to a regular file: "
                       "refusing to replace it", path, file_kind(st.st_mode), real);
    free(real);
    return rc;
  }
  *target = real;
  return NN_OK;
}

/* Remove the temporary files that earlier saves to dir/base left behind
** when their writer died: ".<base>.tmp.<pid>.XXXXXX" (regular files) whose
** pid names no live process (kill(pid, 0) fails with ESRCH).  A file of a
** live writer, or of a pid we cannot tell about, stays.  Best effort: a
** failure here does not fail the save. */
static void remove_orphans (const char *dir, const char *base) {
  DIR *d = opendir(dir);
  if (d == NULL) return;
  size_t blen = strlen(base);
  const struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    const char *name = e->d_name, *p = name + 1 + blen + 5;
    char *end;
    if (name[0] != '.' || strncmp(name + 1, base, blen) != 0
        || strncmp(name + 1 + blen, ".tmp.", 5) != 0 || !isdigit((unsigned char)*p))
      continue;
    errno = 0;
    long pid = strtol(p, &end, 10);
    if (errno != 0 || pid <= 0 || pid > INT_MAX || *end != '.' || strlen(end + 1) != 6) continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;     /* alive, or not ours to know */
    struct stat st;
    if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
      unlinkat(dirfd(d), name, 0);
  }
  closedir(d);
}


int io_replace_file (const char *path, io_writer write, void *ctx) {
  int rc = NN_OK, fd = -1, err = 0, created = 0;
  char *tmp = NULL, *dir = NULL, *target = NULL;
  FILE *fp = NULL;
  const char *what = "cannot write", *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  if (*base == '\0') return nn_seterr(NN_EIO, "%s: not a file name", path);

  /* what is replaced: a regular file, or the one a symbolic link leads to */
  if ((rc = resolve_target(&target, path)) != NN_OK) return rc;
  const char *tbase = strrchr(target, '/');
  tbase = tbase ? tbase + 1 : target;

  /* the temporary file "<dir>/.<base>.tmp.<pid>.XXXXXX", beside the target:
     the pid says whose it is, so a later writer can tell an orphan */
  dir = dir_of(target);
  tmp = malloc(strlen(target) + 40);
  if (dir == NULL || tmp == NULL) { rc = nn_seterr(NN_ENOMEM, "out of host memory"); goto done; }
  sprintf(tmp, "%.*s.%s.tmp.%ld.XXXXXX", (int)(tbase - target), target, tbase, (long)getpid());
  mode_t mode = new_file_mode(target);
  fd = mkstemp(tmp);
  if (fd < 0) { err = errno; what = "cannot create a temporary file in its directory"; goto io_fail; }
  created = 1;
  if (fchmod(fd, mode) != 0) { err = errno; what = "cannot set the temporary file's mode"; goto io_fail; }
  fp = fdopen(fd, "wb");
  if (fp == NULL) { err = errno; what = "cannot open the temporary file"; goto io_fail; }
  fd = -1;                                  /* fp owns it now */

  rc = write(fp, ctx, &err);
  if (rc == NN_EIO && err != 0) goto io_fail;
  if (rc != NN_OK) goto cleanup;
  /* to the disk, then into place */
  if (fflush(fp) != 0) { err = errno; goto io_fail; }
  if (fsync(fileno(fp)) != 0) { err = errno; what = "cannot fsync"; goto io_fail; }
  int closed = fclose(fp);
  fp = NULL;
  if (closed != 0) { err = errno; what = "cannot close"; goto io_fail; }
  if (rename(tmp, target) != 0) {
    err = errno;
    what = "cannot rename the temporary file over it";
    goto io_fail;
  }
  created = 0;

  /* the rename is an entry in the directory: sync that too (some file
     systems cannot, and say EINVAL, which we let pass) */
  int dfd = open(dir, O_RDONLY | O_DIRECTORY);
  if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL))
    rc = nn_seterr(NN_EIO, "%s: written, but its directory %s could not be synced: %s", path,
                   dir, strerror(errno));
  if (dfd >= 0) close(dfd);
  remove_orphans(dir, tbase);
  goto done;

io_fail:
  rc = nn_seterr(NN_EIO, "%s: %s: %s", path, what, strerror(err));
cleanup:
  if (fp != NULL) fclose(fp);
  if (fd >= 0) close(fd);
  if (created) unlink(tmp);
done:
  free(tmp);
  free(dir);
  free(target);
  return rc;
}
