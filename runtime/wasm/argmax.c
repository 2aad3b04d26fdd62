// Greedy sampling's choice: the index of the largest logit, the first of ties (as kernels/sample.wgsl).

#include "common.h"

// x f32 [n], n >= 1 -> index in [0, n). One pass of compares: a vocabulary is read once, so a
// scalar loop costs about as much as the read.
int EXPORT(argmax)(const float *x, int n) {
  int best = 0;
  for (int i = 1; i < n; i++) {
    if (x[i] > x[best]) best = i;
  }
  return best;
}
