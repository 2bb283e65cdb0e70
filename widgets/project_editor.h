// ProjectEditor: the project file as JSON text, validated as it is typed.
//
// Each edit restarts a short timer; when typing pauses, the text is parsed and run through
// Project::from_json, and the line under the editor says either what the project will train or,
// in red, what is wrong and where (the dotted field, or the JSON line and column). Validating on a
// pause rather than on every keystroke keeps typing smooth and the message from flickering.
#pragma once

#include <QList>
#include <QString>
#include <QTextEdit>
#include <QTimer>
#include <QWidget>

#include <optional>

#include "core/run/project.h"

class QLabel;
class QPlainTextEdit;

namespace tb::widgets {

class ProjectEditor : public QWidget {
  Q_OBJECT

 public:
  explicit ProjectEditor(QWidget* parent = nullptr);

  QString text() const;
  // Replaces the text (validated at once) and marks the editor unmodified.
  void setText(const QString& text);
  // The project with every default written out.
  void setProject(const run::Project& project);

  // Reads a project file into the editor; false with *error set (naming the file) when it cannot
  // be read. The text is shown even when it is not a valid project, so it can be fixed.
  bool loadFile(const QString& path, QString* error = nullptr);
  // Writes the text as typed; false with *error set when it cannot be written.
  bool saveFile(const QString& path, QString* error = nullptr);
  QString fileName() const { return fileName_; }
  bool isModified() const;

  // The project the current text describes, or nullopt when it is not valid. Always reflects the
  // text now, even inside the debounce interval.
  std::optional<run::Project> project() const;

  bool isValid() const { return valid_; }
  // What the validation line says ("Valid: ..." or the error).
  QString validationMessage() const { return message_; }
  // The dotted field of the last error ("optimizer.lr"); empty for JSON syntax errors.
  QString errorField() const { return errorField_; }

  QPlainTextEdit* textEdit() const { return edit_; }
  static int debounceMs() { return kDebounceMs; }

 public slots:
  // Validates now instead of after the pause.
  void validateNow();
  // Rewrites the text as the complete project, every default filled (only when valid).
  void fillDefaults();

 signals:
  // After every validation.
  void validated(bool valid);
  void fileNameChanged(const QString& fileName);

 private:
  static constexpr int kDebounceMs = 300;

  struct Outcome {
    std::optional<run::Project> project;
    QString message;
    QString field;
    int errorOffset = -1;  // character offset of a JSON syntax error
  };
  static Outcome evaluate(const QString& text);
  void showOutcome(const Outcome& outcome);
  void highlightError(const Outcome& outcome);
  void setFileName(const QString& fileName);

  QPlainTextEdit* edit_ = nullptr;
  QLabel* status_ = nullptr;
  QTimer debounce_;
  QString fileName_;
  QString message_;
  QString errorField_;
  bool valid_ = false;
};

}  // namespace tb::widgets
