// Records every refit store builds the same way from a request.
#ifndef MX_STORE_REFIT_RECORDS_H_
#define MX_STORE_REFIT_RECORDS_H_

#include <string>

#include "refit.pb.h"

namespace mx::store {

// A new version as the request describes it: uid, model, number, key,
// payload format, base and expected slots. State, layout and creation time
// are the store's to set (Redis sets them in its script).
model_express::refit::WeightVersion NewWeightVersion(
    const model_express::refit::CreateWeightVersionRequest& request, const std::string& uid);

}  // namespace mx::store

#endif  // MX_STORE_REFIT_RECORDS_H_
