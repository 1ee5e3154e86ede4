// Records for store and server tests.
#ifndef MX_TESTS_UNIT_TEST_RECORDS_H_
#define MX_TESTS_UNIT_TEST_RECORDS_H_

#include <memory>
#include <string>

#include "store/record.h"

namespace mx::store::testing {

// A record with `tensors` tensors, rank `rank`, for identity model `model`.
std::shared_ptr<WorkerRecord> MakeRecord(const std::string& model, const std::string& worker_id,
                                         uint32_t rank, int tensors = 3);

}  // namespace mx::store::testing

#endif  // MX_TESTS_UNIT_TEST_RECORDS_H_
