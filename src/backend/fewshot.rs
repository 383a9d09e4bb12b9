//! The one way a dataset question becomes a VLM conversation: its first k in-context examples (the
//! manifest's same-kind train questions) as earlier turns, each its image and question then its
//! answer ("Answer: ..." under chain of thought), then the question with its image and, under chain of
//! thought, the instruction to reason first. Used by `eval --model vlm` and the app's "Ask the image".
//! Asking for more examples than the question has is an error, never a quiet zero-shot. Pure; any
//! thread.

use super::COT_INSTRUCTION;
use crate::models::vlm::{Message, Part};
use crate::types::QaRecord;

/// A question's conversation: messages, their images in order (`I`: a path, a picture...), and the
/// examples shown as (question, answer).
#[derive(Clone, Debug)]
pub struct Conversation<I> {
    pub messages: Vec<Message>,
    pub images: Vec<I>,
    pub shown: Vec<(String, String)>,
}

/// Why a conversation cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FewShotError {
    #[error(
        "question {id} lists {listed} in-context examples, so {asked} shots cannot be shown (use --shots {listed} or fewer)"
    )]
    TooFew { id: String, listed: usize, asked: usize },
    #[error("example {example} of question {id} is not in the manifest")]
    Missing { id: String, example: String },
    #[error("example {example} of question {id} is a {found} question, not {wanted}")]
    OtherKind { id: String, example: String, found: String, wanted: String },
    #[error("{0}")]
    Image(String),
}

/// The conversation for `r` with `shots` examples, looked up with `find`; `image` gives a record's
/// image.
pub fn conversation<'a, I>(
    r: &QaRecord,
    shots: usize,
    cot: bool,
    find: impl Fn(&str) -> Option<&'a QaRecord>,
    mut image: impl FnMut(&QaRecord) -> Result<I, String>,
) -> Result<Conversation<I>, FewShotError> {
    if r.examples.len() < shots {
        return Err(FewShotError::TooFew { id: r.id.clone(), listed: r.examples.len(), asked: shots });
    }
    let mut out = Conversation { messages: Vec::new(), images: Vec::new(), shown: Vec::new() };
    for id in &r.examples[..shots] {
        let ex = find(id).ok_or_else(|| FewShotError::Missing { id: r.id.clone(), example: id.clone() })?;
        if ex.kind != r.kind {
            return Err(FewShotError::OtherKind {
                id: r.id.clone(),
                example: id.clone(),
                found: format!("{:?}", ex.kind),
                wanted: format!("{:?}", r.kind),
            });
        }
        out.images.push(image(ex).map_err(FewShotError::Image)?);
        out.messages.push(Message::user(vec![Part::Image, Part::Text(ex.question.clone())]));
        let answer = if cot { format!("Answer: {}", ex.answer) } else { ex.answer.clone() };
        out.messages.push(Message { role: "assistant".into(), parts: vec![Part::Text(answer)] });
        out.shown.push((ex.question.clone(), ex.answer.clone()));
    }
    out.images.push(image(r).map_err(FewShotError::Image)?);
    out.messages.push(Message::user(vec![Part::Image, Part::Text(question_text(&r.question, cot))]));
    Ok(out)
}

/// A question as asked: with the chain-of-thought instruction appended when `cot`.
pub fn question_text(question: &str, cot: bool) -> String {
    if cot { format!("{question} {COT_INSTRUCTION}") } else { question.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{QuestionKind, ScenePaths, Split};

    fn record(id: &str, kind: QuestionKind, examples: &[&str]) -> QaRecord {
        QaRecord {
            id: id.into(),
            scene: format!("scene-{id}"),
            scenario: "leo-urban".into(),
            split: Split::Train,
            level: kind.level(),
            kind,
            question: format!("question {id}?"),
            answer: format!("answer {id}"),
            choices: Vec::new(),
            bbox: None,
            concepts: Vec::new(),
            examples: examples.iter().map(|e| (*e).to_string()).collect(),
            images: ScenePaths::default(),
            snr_bin: None,
        }
    }

    #[test]
    fn examples_come_first_as_turns_and_too_few_is_an_error() {
        let records = [
            record("q", QuestionKind::Severity, &["a", "b", "c"]),
            record("a", QuestionKind::Severity, &[]),
            record("b", QuestionKind::Severity, &[]),
            record("c", QuestionKind::Localize, &[]),
        ];
        let find = |id: &str| records.iter().find(|r| r.id == id);
        let image = |r: &QaRecord| Ok(r.id.clone());
        let c = conversation(&records[0], 2, true, find, image).expect("two shots");
        assert_eq!(c.images, ["a", "b", "q"]);
        assert_eq!(c.messages.len(), 5);
        assert_eq!(c.messages[1].parts, vec![Part::Text("Answer: answer a".into())]);
        assert_eq!(c.shown[1], ("question b?".to_string(), "answer b".to_string()));
        assert!(matches!(&c.messages[4].parts[1], Part::Text(t) if t.ends_with(COT_INSTRUCTION)));
        let zero = conversation(&records[0], 0, false, find, image).expect("zero shots");
        assert_eq!((zero.messages.len(), zero.images.len()), (1, 1));
        let e = conversation(&records[0], 3, false, find, image).unwrap_err();
        assert!(matches!(e, FewShotError::OtherKind { .. }), "{e}");
        let e = conversation(&records[1], 1, false, find, image).unwrap_err().to_string();
        assert!(e.contains("lists 0 in-context examples") && e.contains("--shots 0"), "{e}");
        let lonely = record("z", QuestionKind::Severity, &["gone"]);
        let e = conversation(&lonely, 1, false, find, image).unwrap_err().to_string();
        assert!(e.contains("gone") && e.contains("not in the manifest"), "{e}");
    }
}
