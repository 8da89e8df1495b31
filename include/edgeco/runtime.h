// The runtime module's API, one header per part: the session, model analysis, evaluation,
// benchmarking and host calibration. Include the part you use; this header includes them all.
#pragma once

#include "edgeco/analysis.h"
#include "edgeco/benchmark.h"
#include "edgeco/calibrate.h"
#include "edgeco/evaluate.h"
#include "edgeco/session.h"
