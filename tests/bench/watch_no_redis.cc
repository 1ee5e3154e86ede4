// watch_bench --mode=redis in a build without the Redis store.
#include <cstdio>

#include "watch_bench.h"

namespace mx::bench {

int RunRedisReplicas(int) {
  std::fprintf(stderr, "this build has no Redis store (MX_WITH_REDIS=OFF)\n");
  return 2;
}

}  // namespace mx::bench
