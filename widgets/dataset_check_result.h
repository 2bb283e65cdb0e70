// DatasetCheckResult: one finished dataset check, as the DatasetInspector shows it.
//
// Immutable once built (the worker that ran the check builds it whole, then hands it over as a
// shared_ptr to const): the GUI thread reads it without locks, and the inspector keeps the split
// alive to draw the example pairs' images long after the worker is gone.
#pragma once

#include <QMetaType>

#include <memory>
#include <string>

#include "core/data/dataset.h"
#include "core/data/inspect.h"

namespace tb::widgets {

struct DatasetCheckResult {
  std::shared_ptr<const data::TrainTestSplit> split;
  data::InspectReport report;
  // Where the data came from (a folder; empty when unknown) and how long reading it took, shown
  // beside the check's own time: on a cold cache loading can dominate.
  std::string source;
  double load_seconds = 0.0;
};

}  // namespace tb::widgets

// Travels through queued connections and QSignalSpy.
Q_DECLARE_METATYPE(std::shared_ptr<const tb::widgets::DatasetCheckResult>)
