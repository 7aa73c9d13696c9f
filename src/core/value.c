/* spex_valuefn helpers. */
#include "spex/value.h"

#include <string.h>

void spex_valuefn_release(spex_valuefn *vf) {
    if (!vf) return;
    if (vf->destroy) vf->destroy(vf->user);
    memset(vf, 0, sizeof *vf);
}
