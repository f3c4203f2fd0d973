/**
 * The conversation's rules, defined once: what "busy", "an open question", "the code may be requested", and when a
 * turn may be followed up, regenerated, continued or edited mean.
 * The engine enforces them, the extension host and the command line ask them, the webview renders by them.
 */
import type { PastTurn, Question, SessionSnapshot, SessionState, Turn } from "./types.js";

type Conversation = Pick<SessionSnapshot, "state" | "questions" | "rounds">;

/** A turn is running (the model is reading the request or writing the code): the surfaces offer Stop. */
export function isBusy(state: SessionState): boolean {
  return state === "assessing" || state === "generating";
}

/** A question no longer blocks the code: it has a non-blank answer, or the user left it to the assistant. */
export function isSettled(question: Pick<Question, "answer" | "waived">): boolean {
  return question.waived === true || (question.answer !== undefined && question.answer.trim() !== "");
}

/** The questions of the round that is open for answers (none unless the conversation is asking). */
export function openRoundQuestions<C extends Conversation>(session: C): C["questions"] {
  if (session.state !== "asking") return [];
  return session.questions.filter((q) => q.round === session.rounds);
}

/** The open questions: those, of any round, that are neither answered nor waived. */
export function openQuestions<C extends Conversation>(session: C): C["questions"] {
  return session.questions.filter((q) => !isSettled(q));
}

/** The code (or the next round) may be requested: the conversation is asking and no question is open. */
export function canGenerate(session: Conversation): boolean {
  return openRoundQuestions(session).length > 0 && openQuestions(session).length === 0;
}

/** A new message goes to this conversation as its next turn: it has started and no turn is running. */
export function canFollowUp(state: SessionState): boolean {
  return state !== "idle" && !isBusy(state);
}

/**
 * The current turn may run again (Regenerate) or be sent again with its request edited: it got as far as questions,
 * an answer, a stop or a failure.
 */
export function canRegenerate(session: Pick<SessionSnapshot, "state" | "request">): boolean {
  return canFollowUp(session.state) && session.request.trim() !== "";
}

/** Continue writes the rest of an answer that stopped early: the user stopped it, or it reached the length limit. */
export function canContinue(session: Pick<SessionSnapshot, "state" | "answer" | "hitLimit" | "answerRequested">): boolean {
  if (session.answer === "" || session.answerRequested !== true) return false;
  return session.state === "cancelled" || (session.state === "done" && session.hitLimit === true);
}

/** Every turn of a conversation, oldest first; the current one last, with the conversation's state. */
export function conversationTurns(session: SessionSnapshot): (Turn & { state: SessionState })[] {
  const earlier: PastTurn[] = session.earlier ?? [];
  return [...earlier, session];
}
