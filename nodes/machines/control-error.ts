// The error a control request (fault, heal, start, stop) is refused with: an HTTP status
// for the process shell to answer with, a message naming the bad field and value. The
// simulation reports the same message.
export class ControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
