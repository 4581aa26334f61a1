/* Time zone files for schedules (scheduler/tz_load.h). */
#include "scheduler/tz_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"

int
pacer_tz_load(const char *name, struct pacer_tz **out, struct pacer_error *err)
{
  const char *dir = getenv("TZDIR");
  char path[512], what[96], *bytes = NULL;
  size_t len = 0;
  int rc;

  *out = NULL;
  if ((rc = pacer_tz_name_check(name, err)) != 0)
    return rc;
  if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0)
    return 0;
  snprintf(path, sizeof(path), "%s/%s",
           dir != NULL && dir[0] != '\0' ? dir : "/usr/share/zoneinfo", name);
  snprintf(what, sizeof(what), "--tz %s", name);
  rc = pacer_file_read(path, what, PACER_TZ_FILE_MAX, PACER_FILE_REGULAR,
                       PACER_EIO, &bytes, &len, NULL, err);
  if (rc != 0)
    return rc;
  rc = pacer_tz_parse(name, (const unsigned char *)bytes, len, out, err);
  free(bytes);
  return rc;
}
