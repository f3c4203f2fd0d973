import { test } from "node:test";
import assert from "node:assert/strict";
import { insertionText, isWholeFileProposal } from "../../src/core/placement.js";

const block = "def is_prime(n):\n    return n > 1";

test("Insert: a block of several lines gets lines of its own, one blank line from its neighbours", () => {
  // At the start of a line, between two lines of code.
  const doc = "import os\nprint(1)\n";
  const at = "import os\n".length;
  const text = insertionText(doc.slice(0, at), doc.slice(at), block);
  assert.equal(doc.slice(0, at) + text + doc.slice(at), "import os\n\ndef is_prime(n):\n    return n > 1\n\nprint(1)\n");
  // At the end of a line with text.
  const end = "import os".length;
  assert.equal(
    doc.slice(0, end) + insertionText(doc.slice(0, end), doc.slice(end), block) + doc.slice(end),
    "import os\n\ndef is_prime(n):\n    return n > 1\n\nprint(1)\n",
  );
  // Into an empty file, and at the end of a file.
  assert.equal(insertionText("", "", `${block}\n`), `${block}\n`);
  assert.equal(insertionText("x = 1\n", "", block), `\n${block}\n`);
  // On an empty line between blank lines: nothing added.
  assert.equal(insertionText("x = 1\n\n", "\n\ny = 2\n", block), block);
  // A one-line block goes in as it is (it may belong inside the line).
  assert.equal(insertionText("first line\n", "second line\n", "print('x')"), "print('x')");
  // On an empty line it is a line of its own, one blank line from a definition below it.
  const file = "def load():\n    pass\n\n\ndef save():\n    pass\n";
  const blank = "def load():\n    pass\n\n".length;
  assert.equal(
    file.slice(0, blank) + insertionText(file.slice(0, blank), file.slice(blank), 'print("Hello, World!")') + file.slice(blank),
    'def load():\n    pass\n\nprint("Hello, World!")\n\ndef save():\n    pass\n',
  );
});

test("Replace/Diff: a block that repeats the file's definitions outside the selection is the whole file", () => {
  const file = 'def is_prime(n):\n    pass\n\n\ndef main():\n    print(is_prime(7))\n\n\nif __name__ == "__main__":\n    main()\n';
  const selEnd = "def is_prime(n):\n    pass\n".length;
  const whole =
    'def is_prime(n):\n    return n > 1 and all(n % d for d in range(2, n))\n\n\ndef main():\n    print(is_prime(7))\n\n\nif __name__ == "__main__":\n    main()\n';
  assert.equal(isWholeFileProposal(file, 0, selEnd, whole), true);
  assert.equal(isWholeFileProposal(file, 0, selEnd, "def is_prime(n):\n    return n > 1"), false, "only the selected function: the selection");
  assert.equal(isWholeFileProposal(file, 0, file.length, whole), false, "the whole file selected: the selection");
});
