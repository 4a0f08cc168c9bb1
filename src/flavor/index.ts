export * from './daemons';
export * from './name';
export * from './schema';
export * from './load';
export * from './layout';
export * from './doctor';
export * from './describe';
