// Lint rules: typescript-eslint's recommended set, plus the project's layering rule
// (reserve/ and the model half of netstack/ are pure: no I/O, no wall clock).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const pureModelRestrictions = {
  'no-restricted-imports': [
    'error',
    {
      patterns: [
        {
          group: ['node:*'],
          message: 'reserve/ is a pure model: no I/O modules (DESIGN.md section 1).',
        },
        {
          group: ['../nodes/*', '../orchestrator/*', '../netstack/*'],
          message: 'reserve/ imports nothing above it.',
        },
      ],
    },
  ],
  'no-restricted-globals': [
    'error',
    { name: 'setTimeout', message: 'Use the injected scheduler.' },
    { name: 'setInterval', message: 'Use the injected scheduler.' },
    { name: 'setImmediate', message: 'Use the injected scheduler.' },
    { name: 'process', message: 'The model never touches the process.' },
    { name: 'console', message: 'The model never logs; it returns values and events.' },
  ],
  'no-restricted-properties': [
    'error',
    { object: 'Date', property: 'now', message: 'Use the injected clock.' },
    { object: 'performance', property: 'now', message: 'Use the injected clock.' },
    { object: 'Math', property: 'random', message: 'Use the seeded RNG.' },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'reports/**', 'runs/**', 'test-output/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        fetch: 'readonly',
        performance: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setImmediate: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      eqeqeq: ['error', 'always'],
    },
  },
  { files: ['reserve/**/*.ts'], rules: pureModelRestrictions },
  {
    // The machines (DESIGN.md section 12): no I/O, no clock, no randomness of their own;
    // the process shell and the simulation give them everything.
    files: ['nodes/machines/**/*.ts', 'netstack/memory-network.ts'],
    rules: {
      ...pureModelRestrictions,
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'p-queue', 'pino', 'prom-client'],
              message: 'A machine has no I/O of its own (DESIGN.md section 12).',
            },
            {
              group: ['../../orchestrator/*', '../node-*', '../metrics*', '../http-server*'],
              message: 'A machine never imports the process shell or the orchestrator.',
            },
          ],
        },
      ],
    },
  },
  {
    // The script inlined into HTML reports runs in the browser, after uPlot.
    files: ['orchestrator/report-page.js'],
    languageOptions: {
      sourceType: 'script',
      globals: {
        window: 'readonly',
        document: 'readonly',
        requestAnimationFrame: 'readonly',
        cancelAnimationFrame: 'readonly',
        uPlot: 'readonly',
      },
    },
  },
);
