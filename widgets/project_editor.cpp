#include "widgets/project_editor.h"

#include <QFile>
#include <QFileInfo>
#include <QFontDatabase>
#include <QLabel>
#include <QPlainTextEdit>
#include <QSaveFile>
#include <QTextBlock>
#include <QTextCursor>
#include <QVBoxLayout>

#include <nlohmann/json.hpp>

#include <string>

namespace tb::widgets {

namespace {

// "[json.exception.parse_error.101] parse error at line 3, column 5: ..." -> "parse error at ...":
// the bracketed id means nothing to someone editing a file.
QString withoutJsonPrefix(const std::string& what) {
  QString message = QString::fromStdString(what);
  if (message.startsWith('[')) {
    const qsizetype end = message.indexOf(QStringLiteral("] "));
    if (end > 0) message = message.mid(end + 2);
  }
  return message;
}

QString describe(const run::Project& project) {
  QString model = QString::fromStdString(project.model.type);
  if (!project.model.hidden.empty()) {
    QStringList sizes;
    for (auto size : project.model.hidden) sizes << QString::number(size);
    model += QStringLiteral(" [%1]").arg(sizes.join(QStringLiteral(", ")));
  }
  return QObject::tr("Valid: %1 — %2, %3 lr %4, batch %5, %6 epoch(s), seed %7")
      .arg(QString::fromStdString(project.name), model,
           QString::fromStdString(project.optimizer.type))
      .arg(project.optimizer.lr)
      .arg(project.data.batch_size)
      .arg(project.train.epochs)
      .arg(project.seed);
}

}  // namespace

ProjectEditor::ProjectEditor(QWidget* parent) : QWidget(parent) {
  edit_ = new QPlainTextEdit(this);
  QFont mono = QFontDatabase::systemFont(QFontDatabase::FixedFont);
  mono.setStyleHint(QFont::Monospace);
  edit_->setFont(mono);
  edit_->setLineWrapMode(QPlainTextEdit::NoWrap);
  edit_->setTabStopDistance(2 * QFontMetricsF(mono).horizontalAdvance(QLatin1Char(' ')));
  edit_->setPlaceholderText(
      tr("Project JSON, e.g. {\"name\": \"mlp\", \"train\": {\"epochs\": 5}}"));

  status_ = new QLabel(this);
  status_->setWordWrap(true);
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  status_->setMinimumHeight(status_->fontMetrics().height() * 2 + 4);
  status_->setAlignment(Qt::AlignLeft | Qt::AlignTop);

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(4);
  layout->addWidget(edit_, 1);
  layout->addWidget(status_);

  debounce_.setSingleShot(true);
  debounce_.setInterval(kDebounceMs);
  connect(&debounce_, &QTimer::timeout, this, &ProjectEditor::validateNow);
  connect(edit_, &QPlainTextEdit::textChanged, this, [this] { debounce_.start(); });
  validateNow();
}

QString ProjectEditor::text() const {
  return edit_->toPlainText();
}

void ProjectEditor::setText(const QString& text) {
  edit_->setPlainText(text);
  edit_->document()->setModified(false);
  validateNow();
}

void ProjectEditor::setProject(const run::Project& project) {
  setText(QString::fromStdString(project.to_json().dump(2)) + QLatin1Char('\n'));
}

bool ProjectEditor::loadFile(const QString& path, QString* error) {
  QFile file(path);
  if (!file.open(QIODevice::ReadOnly)) {
    if (error) *error = tr("Cannot read %1: %2").arg(path, file.errorString());
    return false;
  }
  setText(QString::fromUtf8(file.readAll()));
  setFileName(path);
  return true;
}

bool ProjectEditor::saveFile(const QString& path, QString* error) {
  // QSaveFile writes beside the target and renames: a failed save leaves the old file whole.
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly) || file.write(text().toUtf8()) < 0 || !file.commit()) {
    if (error) *error = tr("Cannot write %1: %2").arg(path, file.errorString());
    return false;
  }
  edit_->document()->setModified(false);
  setFileName(path);
  return true;
}

bool ProjectEditor::isModified() const {
  return edit_->document()->isModified();
}

std::optional<run::Project> ProjectEditor::project() const {
  return evaluate(text()).project;
}

void ProjectEditor::validateNow() {
  debounce_.stop();
  showOutcome(evaluate(text()));
}

void ProjectEditor::fillDefaults() {
  if (auto current = project()) {
    // Through the cursor, so the rewrite is one undo step and keeps the modified flag honest.
    QTextCursor cursor(edit_->document());
    cursor.select(QTextCursor::Document);
    cursor.insertText(QString::fromStdString(current->to_json().dump(2)) + QLatin1Char('\n'));
    validateNow();
  }
}

ProjectEditor::Outcome ProjectEditor::evaluate(const QString& text) {
  Outcome outcome;
  const QByteArray utf8 = text.toUtf8();
  if (utf8.trimmed().isEmpty()) {
    outcome.message = tr("Empty: write a project as JSON ({} uses every default).");
    return outcome;
  }
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(utf8.begin(), utf8.end());
  } catch (const nlohmann::json::parse_error& e) {
    outcome.message = tr("JSON syntax error: %1").arg(withoutJsonPrefix(e.what()));
    // e.byte is 1-based and counts bytes; the editor counts characters.
    const auto byte = static_cast<qsizetype>(e.byte > 0 ? e.byte - 1 : 0);
    outcome.errorOffset = static_cast<int>(QString::fromUtf8(utf8.left(byte)).size());
    return outcome;
  }
  try {
    outcome.project = run::Project::from_json(doc, "project");
    outcome.message = describe(*outcome.project);
  } catch (const run::ProjectError& e) {
    outcome.field = QString::fromStdString(e.field());
    const QString what = QString::fromStdString(e.what());
    outcome.message = outcome.field.isEmpty() || what.contains(outcome.field)
                          ? what
                          : QStringLiteral("%1: %2").arg(outcome.field, what);
  } catch (const std::exception& e) {
    // Anything else from the engine is still an answer, not a crash.
    outcome.message = QString::fromStdString(e.what());
  }
  return outcome;
}

void ProjectEditor::showOutcome(const Outcome& outcome) {
  valid_ = outcome.project.has_value();
  message_ = outcome.message;
  errorField_ = outcome.field;
  QPalette palette = status_->palette();
  palette.setColor(QPalette::WindowText,
                   valid_ ? QColor(0x26, 0x7d, 0x32) : QColor(0xc0, 0x1c, 0x28));
  status_->setPalette(palette);
  status_->setText((valid_ ? QStringLiteral("✓ ") : QStringLiteral("✗ ")) + message_);
  highlightError(outcome);
  emit validated(valid_);
}

// Marks the line the error is about: the syntax error's position, or the line of the failing
// field's key (found by walking the dotted path's keys in order through the text).
void ProjectEditor::highlightError(const Outcome& outcome) {
  QList<QTextEdit::ExtraSelection> selections;
  int offset = outcome.errorOffset;
  if (offset < 0 && !outcome.field.isEmpty()) {
    const QString text = edit_->toPlainText();
    int from = 0;
    for (QString key : outcome.field.split(QLatin1Char('.'))) {
      key = key.section(QLatin1Char('['), 0, 0);  // "hidden[0]" -> "hidden"
      if (key.isEmpty()) continue;
      const int found =
          static_cast<int>(text.indexOf(QLatin1Char('"') + key + QLatin1Char('"'), from));
      if (found < 0) break;
      offset = from = found;
    }
  }
  if (offset >= 0) {
    QTextEdit::ExtraSelection selection;
    selection.format.setBackground(QColor(0xfd, 0xe2, 0xe2));
    selection.format.setProperty(QTextFormat::FullWidthSelection, true);
    selection.cursor = QTextCursor(edit_->document()->findBlock(offset));
    selections.append(selection);
  }
  edit_->setExtraSelections(selections);
}

void ProjectEditor::setFileName(const QString& fileName) {
  if (fileName_ == fileName) return;
  fileName_ = fileName;
  emit fileNameChanged(fileName_);
}

}  // namespace tb::widgets
