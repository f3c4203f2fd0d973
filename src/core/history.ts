/**
 * A guided conversation's history as the model sees it (its exchanges), rebuilt from a saved conversation, so that a
 * conversation reopened after a reload continues where it was: the same messages the engine sent, and the model's
 * replies as they were recorded (its assessments written back as JSON, its answers as they were shown). A turn the
 * readings decided is the one exchange the model had for it: its plain code request, as it was sent, and the reply.
 */
import type { Exchange } from "./model.js";
import {
  assessmentReplyText,
  buildAssessmentMessage,
  buildChoicesMessage,
  buildCodeRequestMessage,
  buildFollowUpAssessmentMessage,
  choiceAssumption,
  choicesReplyText,
} from "./prompts.js";
import { conversationTurns } from "./rules.js";
import type { ClarifySettings, Question, SessionSnapshot, Turn, TurnReadings } from "./types.js";

/** The code request of a turn: the message, where its exchange is in the history, and the answers it carried. */
export interface CodeRequest {
  message: string;
  at: number;
  answers: Question[];
}

interface RebuiltHistory {
  exchanges: Exchange[];
  /** Where the current turn's exchanges start. */
  turnStart: number;
  /** The current turn's code request, where it got that far. */
  codeRequest?: CodeRequest;
  /** Questions of the current turn whose answers the history already holds. */
  sentQuestionIds: string[];
}

/**
 * A turn the readings decided: its plain code request and the reply, which is the first candidate while its questions
 * are open, and the answer once the code was asked for (a candidate taken as it was, or the code written after the
 * user's answers).
 */
function readingsExchanges(turn: Turn, readings: TurnReadings, at: number): { exchanges: Exchange[]; codeRequest?: CodeRequest } {
  if (turn.answerRequested !== true) {
    const first = readings.candidates?.[0];
    return { exchanges: first ? [{ user: readings.message, model: first.text }] : [] };
  }
  const answers = turn.questions.filter((q) => q.round === turn.rounds && q.answer !== undefined);
  const codeRequest: CodeRequest = { message: readings.message, at, answers };
  return { exchanges: turn.answer !== "" ? [{ user: readings.message, model: turn.answer }] : [], codeRequest };
}

/** A guided turn's code request as its answers and assumptions make it (the first try, before any correction). */
export function guidedCodeRequest(answers: readonly Question[], assumptions: readonly string[]): string {
  return buildCodeRequestMessage({ newAnswers: answers, assumptions });
}

/** The exchanges of one turn, and its code request (when the code was asked for). */
function turnExchanges(
  turn: Turn,
  followUp: boolean,
  at: number,
  settings: Pick<ClarifySettings, "maxQuestions">,
): { exchanges: Exchange[]; codeRequest?: CodeRequest } {
  if (turn.readings) return readingsExchanges(turn, turn.readings, at);
  const round = (r: number): Question[] => turn.questions.filter((q) => q.round === r);
  const exchanges: Exchange[] = [];
  // A turn that ended before the model had assessed it left nothing the model needs.
  if (turn.questions.length === 0 && turn.answerRequested !== true) return { exchanges };
  const first = round(1);
  // The assumptions the model stated itself (not those it made for the questions left to it, which came later).
  const choices = new Set(turn.questions.flatMap((q) => (q.assumed !== undefined ? [choiceAssumption(q, q.assumed)] : [])));
  exchanges.push({
    user: buildAssessmentMessage(turn.request, turn.context, settings.maxQuestions, { followUp }),
    model: assessmentReplyText(
      first.length > 0 ? { decision: "ask", questions: first } : { decision: "proceed", assumptions: turn.assumptions.filter((a) => !choices.has(a)) },
    ),
  });
  for (let r = 2; r <= turn.rounds; r++) {
    exchanges.push({
      user: buildFollowUpAssessmentMessage(round(r - 1), settings.maxQuestions),
      model: assessmentReplyText({ decision: "ask", questions: round(r) }),
    });
  }
  if (turn.answerRequested !== true) return { exchanges };
  const chosen = turn.questions.filter((q) => q.waived && q.assumed !== undefined);
  if (chosen.length > 0) exchanges.push({ user: buildChoicesMessage(chosen), model: choicesReplyText(chosen.map((q) => q.assumed ?? "")) });
  const answers = turn.rounds > 0 ? round(turn.rounds) : [];
  const codeRequest: CodeRequest = {
    message: turn.codeMessage ?? guidedCodeRequest(answers, turn.assumptions),
    at: at + exchanges.length,
    answers,
  };
  if (turn.answer !== "") exchanges.push({ user: codeRequest.message, model: turn.answer });
  return { exchanges, codeRequest };
}

/** Rebuilds a saved guided conversation's history, every turn of it, up to where its current turn is. */
export function rebuildHistory(snapshot: SessionSnapshot, settings: Pick<ClarifySettings, "maxQuestions">): RebuiltHistory {
  const turns = conversationTurns(snapshot);
  const exchanges: Exchange[] = [];
  let turnStart = 0;
  let codeRequest: CodeRequest | undefined;
  turns.forEach((turn, index) => {
    turnStart = exchanges.length;
    const rebuilt = turnExchanges(turn, index > 0, exchanges.length, settings);
    exchanges.push(...rebuilt.exchanges);
    codeRequest = rebuilt.codeRequest;
  });
  const sentQuestionIds = snapshot.questions.filter((q) => snapshot.answerRequested === true || q.round < snapshot.rounds).map((q) => q.id);
  return { exchanges, turnStart, ...(codeRequest ? { codeRequest } : {}), sentQuestionIds };
}
