/* spex_version(): the version this library was built as (spex/version.h). */
#include "spex/version.h"

const char *spex_version(void) {
    return SPEX_VERSION_STRING;
}
