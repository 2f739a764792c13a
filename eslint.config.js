// Lint config: typescript-eslint's recommended rules plus a few that catch real bugs
// in async code (floating promises are how a failed QMP call goes unnoticed).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'guest/**', 'build/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's test()/describe() return promises the runner itself awaits.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }] },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // The web console is compiled by its own tsconfig (browser, DOM types).
    files: ['src/web-console/**/*.ts', 'src/web-console/**/*.tsx'],
    languageOptions: { parserOptions: { projectService: false, project: './tsconfig.console.json', tsconfigRootDir: import.meta.dirname } },
  },
);
