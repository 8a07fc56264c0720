// Lint for the agent's TypeScript sources. docs/design.md ("Lint") says why each setting below is what it is.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    files: ['agent/src/**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.strictTypeChecked],
    languageOptions: {
      // Type-aware rules read agent/src through the root tsconfig.json, the one the build uses.
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Numbers in diagnostic messages and label values print as they should; objects, nullish values, booleans
      // and `any` stay forbidden (those are the ones that print "[object Object]" or "undefined").
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // `(err) => diag.error(...)` callbacks and `return this.finish(e)` early exits from void functions are the
      // codebase's idiom and say nothing misleading; a void value used inside another expression is still an error.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true, ignoreVoidReturningFunctions: true }],
      // `import fs = require('node:fs')` binds the module object itself, which the threadpool wrappers patch (under
      // esModuleInterop `import * as` gives a copy); it is a static import TypeScript checks. `require()` calls
      // stay flagged.
      '@typescript-eslint/no-require-imports': ['error', { allowAsImport: true }],
    },
  },
);
