// Running a plan as deployed. A plan puts each node on a device that computes in its own numeric
// type: an fp16 GPU stores and rounds in half precision, an int8 NPU requantizes between layers, a
// device without int8 runs an int8 node on dequantized weights. deploy() rewrites the model so
// that this host computes exactly what those devices would (time and energy stay modelled, in the
// plan), so a plan's accuracy is measured, never assumed.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "edgeco/compiler.h"
#include "edgeco/ir.h"

namespace edgeco {

// A tensor the plan moves from one device to another.
struct PlannedTransfer {
  std::string value, from, to;
  int64_t bytes = 0;
};

struct DeployedModel {
  // The model after the plan's passes, each placed node in its device's numeric semantics:
  //  - same type as the node's own (int8 on an int8 NPU, fp32 on a CPU): unchanged; edgeco's int8
  //    kernels requantize per layer as TFLite's reference kernels do;
  //  - fp16: float inputs and weights rounded to half precision (round to nearest even), the
  //    arithmetic in fp32, float outputs rounded to half (Cast to FLOAT16 and back, so the graph
  //    stays standard ONNX);
  //  - an int8 node on a float device: its float form (DequantizeLinear of the 8-bit inputs and
  //    weights, the float operator, QuantizeLinear of the result), in fp16 or fp32 as above.
  Graph graph;
  // Every node of `graph` -> the device it computes for; "host" for nodes the plan does not place
  // (folded constants).
  std::map<std::string, std::string> device_of;
  std::map<std::string, int> nodes_by_type;  // placed nodes by the type they compute in
  int rewritten = 0;                         // placed nodes computed in another type than their own
  std::vector<PlannedTransfer> transfers;  // tensors crossing devices (graph inputs from the host)
};

// Throws Error when the plan names a node the model (after the plan's passes) does not have, a
// type that is not int8, fp16 or fp32, or a node that has no form in its device's type.
DeployedModel deploy(Graph model, const Plan& plan);

}  // namespace edgeco
