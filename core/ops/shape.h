/* shape.h: helpers of the data-movement family (core/ops/shape.c) used by
 * the memory plan. */
#ifndef CAM_OPS_SHAPE_H
#define CAM_OPS_SHAPE_H

#include "internal.h"

/* Whether the memory plan may place Concat node n's inputs inside its
 * output, each at its own offset, so that producers write the result in
 * place: concatenation along an axis with only size-1 dims before it
 * (then every input is one contiguous block of the output, in order).
 * On success offsets[i] is input i's byte offset in the output. */
bool cam__concat_can_alias(const cam__node *n, const cam__tensor *const *in, const cam__tensor *out,
                           size_t *offsets);
/* Marks n as planned in place: its forward (and reference) do nothing. */
void cam__concat_set_aliased(cam__node *n);

#endif
